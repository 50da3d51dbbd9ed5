-- The W3C traceparent of the start that created an instance's current execution (NULL when the
-- start was not traced). Every turn continues that trace, so one orchestration is one trace.
ALTER TABLE instances ADD COLUMN trace_context text;
