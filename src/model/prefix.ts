// In model/, the lowest layer that needs it: config, source, galera, render, daemon and cli all import model.

/**
 * The prefix without its trailing slashes: `/a/b/` and `/a/b` name one prefix. This is the form that is
 * printed, validated and extended (`${prefix}/${id}`); `/` gives the empty string, which callers refuse.
 */
export function stripTrailingSlashes(prefix: string): string {
  return prefix.replace(/\/+$/, '');
}

/**
 * What is wrong with `text` as an etcd prefix, or null. The one rule for every place a prefix comes from
 * (flag, environment, config file, a service): absolute, and not the root, which would mirror the whole
 * keyspace.
 */
export function prefixProblem(text: string): string | null {
  if (!text.startsWith('/')) return 'must start with "/"';
  if (stripTrailingSlashes(text) === '') return '"/" would mirror the whole keyspace; name a directory';
  return null;
}

/**
 * The prefix as the keys under it begin: ends with exactly one `/`. This is the form keys are compared
 * against, so `/a` does not match `/ab/x`.
 */
export function normalizePrefix(prefix: string): string {
  return `${stripTrailingSlashes(prefix)}/`;
}
