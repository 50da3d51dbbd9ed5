/** Instance ids: the rules Durable Functions applies, shared by starts, sub-orchestrations and routes. */

export const MAX_INSTANCE_ID_LENGTH = 256;

/**
 * Why an instance id is invalid, or undefined when it is valid: 1–256 characters (counted as the
 * database counts them: code points), no / \ # ? or control characters, not starting with @.
 */
export function instanceIdProblem(id: string): string | undefined {
  const length = [...id].length;
  if (length < 1 || length > MAX_INSTANCE_ID_LENGTH) return `must be 1 to ${MAX_INSTANCE_ID_LENGTH} characters long`;
  if (id.startsWith('@')) return "must not start with '@' (reserved for entities)";
  // eslint-disable-next-line no-control-regex
  if (/[/\\#?\u0000-\u001f\u007f-\u009f]/.test(id)) return 'must not contain /, \\, #, ? or control characters';
  return undefined;
}
