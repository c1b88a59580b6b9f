import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, isMap, isNode, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { describePathError } from '../apply/socket-diagnosis.js';
import { ConfigError } from '../errors.js';
import { normalizePrefix, prefixProblem } from '../model/prefix.js';
import { BALANCES, type ServiceSpec } from '../model/service.js';
import { TEMPLATE_VARS } from '../render/template-vars.js';
import { OPTION_NAMES, optionDef, type OptionName, type OptionValue } from './option-table.js';

/** Reads a file as UTF-8; throws the errno error (ENOENT, EACCES...) as fs does. */
export type ReadTextFile = (path: string) => string;

type KeyPath = readonly (string | number)[];

/** A template variable from the file's `set:` or `set-from-file:`. */
export interface FileVar {
  readonly name: string;
  readonly value: string;
  readonly line: number;
  /** `set.name` or `set-from-file.name`, for error lines. */
  readonly key: string;
  /** Read from a file: never quoted in a message. */
  readonly secret: boolean;
}

/** A service as the file gives it: `minServers` undefined means the global `min-servers`. */
export type ServiceDraft = Omit<ServiceSpec, 'minServers'> & { readonly minServers: number | undefined };

export interface ConfigFile {
  /** Absolute path of the file. */
  readonly path: string;
  /** Top-level options, parsed by the option table; paths already resolved against the file's directory. */
  readonly options: { readonly [K in OptionName]?: { readonly value: OptionValue<K>; readonly line: number } };
  readonly vars: readonly FileVar[];
  /** null when the file has no `services:`. */
  readonly services: readonly ServiceDraft[] | null;
  /** The line of a key path (`['services']`), for errors found after loading. */
  lineOf(path: KeyPath): number;
}

export const DEFAULT_CONFIG_FILE = '/etc/galera-haproxy/config.yaml';

/** `<file>:<line>: <key path>: <reason>` as a ConfigError. */
export function fileError(file: string, line: number, path: KeyPath, reason: string): ConfigError {
  const where = path.length === 0 ? '' : ` ${formatPath(path)}:`;
  return new ConfigError(`${file}:${line}:${where} ${reason}`);
}

export function formatPath(path: KeyPath): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/** A parser's message starts with the label it was given; in the file, the key path stands before it. */
function reasonAfter(label: string, message: string): string {
  return message.startsWith(label) ? message.slice(label.length).replace(/^:?\s*/, '') : message;
}

function lineLocator(doc: Document, counter: LineCounter): (path: KeyPath) => number {
  const lineAt = (offset: number): number => counter.linePos(offset).line;
  const lineOf = (path: KeyPath): number => {
    if (path.length === 0) return 1;
    const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
    const last = path[path.length - 1];
    if (isMap(parent)) {
      const pair = parent.items.find((item) => isScalar(item.key) && String(item.key.value) === String(last));
      if (isScalar(pair?.key) && pair.key.range) return lineAt(pair.key.range[0]);
    } else if (isSeq(parent) && typeof last === 'number') {
      const item = parent.items[last];
      if (isNode(item) && item.range) return lineAt(item.range[0]);
    }
    return lineOf(path.slice(0, -1));
  };
  return lineOf;
}

// ---- schema ------------------------------------------------------------------------------------------

const scalar = z.union([z.string(), z.number()], { errorMap: () => ({ message: 'must be a string or a number' }) });
const text = z.string({ invalid_type_error: 'must be a string', required_error: 'is required' });
const hasControl = (s: string): boolean => [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
const printable = text.min(1, 'must not be empty').refine((s) => !hasControl(s), 'must not contain control characters');
const int = (min: number, max: number) =>
  z.number({ invalid_type_error: 'must be a whole number' }).int('must be a whole number').min(min, `must be ${min}-${max}`).max(max, `must be ${min}-${max}`);
const bool = z.boolean({ invalid_type_error: 'must be true or false' });
const enumOf = <T extends string>(values: readonly [T, ...T[]]) =>
  z.enum(values, { errorMap: (issue, ctx) => ({ message: issue.code === 'invalid_type' && ctx.data === undefined ? 'is required' : `must be one of ${values.join(', ')}` }) });
const bind = text.superRefine((v, ctx) => {
  const reason = TEMPLATE_VARS.listen.validate(v);
  if (reason !== null) ctx.addIssue({ code: 'custom', message: reason });
});

function optionSchema(name: OptionName): z.ZodTypeAny {
  const d = optionDef(name);
  if (d.value === undefined) return bool;
  if (d.list !== undefined) {
    return z.union([z.string(), z.number(), z.array(scalar).min(1)], { errorMap: () => ({ message: 'must be a string or a list of strings' }) });
  }
  return scalar;
}

const checkSchema = z
  .object({
    type: enumOf(['http', 'tcp', 'none']).default('tcp'),
    method: enumOf(['GET', 'HEAD', 'OPTIONS']).optional(),
    path: printable.refine((s) => /^\/[\x21-\x7e]*$/.test(s), 'must start with "/" and hold no spaces').optional(),
    host: printable.refine((s) => /^[A-Za-z0-9.:[\]-]+$/.test(s), 'must be a host name or address').optional(),
    port: int(1, 65_535).optional(),
    'expect-status': int(100, 599).optional(),
  })
  .strict();

const serviceSchema = z
  .object({
    name: text.regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 characters of [A-Za-z0-9_.:-]'),
    prefix: printable.superRefine((s, ctx) => {
      const problem = prefixProblem(s);
      if (problem !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
    }),
    listen: z.union([bind, z.array(bind).min(1, 'must name at least one address')], {
      errorMap: (issue, ctx) => ({ message: ctx.data === undefined ? 'is required' : 'must be an address or a list of addresses' }),
    }),
    mode: enumOf(['tcp', 'http']).default('tcp'),
    balance: enumOf(BALANCES as [ServiceSpec['balance'], ...ServiceSpec['balance'][]]).optional(),
    'forward-for': bool.default(false),
    'default-port': int(1, 65_535).optional(),
    check: checkSchema.optional(),
    'server-options': z
      .array(
        z
          .union([z.string(), z.number()], { errorMap: () => ({ message: 'must be a string' }) })
          .transform(String)
          .refine((s) => /^[A-Za-z0-9_.,:/@+-]+$/.test(s), 'must be a token of [A-Za-z0-9_.,:/@+-]'),
        { invalid_type_error: 'must be a list of tokens' },
      )
      .optional(),
    'min-servers': int(0, 100_000).optional(),
    writer: enumOf(['multi', 'single']).default('multi'),
    'writer-key': printable.optional(),
    'read-listen': bind.optional(),
    template: printable.optional(),
  })
  .strict();

function fileSchema() {
  const shape: Record<string, z.ZodTypeAny> = {};
  for (const name of OPTION_NAMES) if (optionDef(name).file !== false) shape[name] = optionSchema(name).optional();
  shape['set'] = z.record(z.string(), scalar, { invalid_type_error: 'must be a map of variable names to values' }).optional();
  shape['set-from-file'] = z.record(z.string(), printable, { invalid_type_error: 'must be a map of variable names to file paths' }).optional();
  shape['services'] = z.array(serviceSchema, { invalid_type_error: 'must be a list of services' }).min(1, 'must list at least one service').optional();
  return z.object(shape, { invalid_type_error: 'the file must be a map of keys to values' }).strict();
}

function issueReason(issue: z.ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.received === 'undefined') return 'is required';
  return issue.message;
}

/** zod's first issue in file order, as `file:line: key: reason`. */
function firstIssue(file: string, issues: readonly z.ZodIssue[], lineOf: (path: KeyPath) => number): ConfigError {
  const located = issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: [...issue.path, key], reason: 'unknown key' }))
      : [{ path: issue.path, reason: issueReason(issue) }],
  );
  const withLines = located.map((l) => ({ ...l, line: lineOf(l.path) })).sort((a, b) => a.line - b.line);
  const first = withLines[0];
  return first === undefined ? new ConfigError(`${file}: invalid`) : fileError(file, first.line, first.path, first.reason);
}

// ---- reading -----------------------------------------------------------------------------------------

/**
 * Reads and validates the config file at `path` (absolute). `label` names where the path came from
 * (`--config-file`); an `optional` file that does not exist is null, one that cannot be read is an error.
 */
export function loadConfigFile(path: string, readFile: ReadTextFile, how: { label: string; optional: boolean }): ConfigFile | null {
  let source: string;
  try {
    source = readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (how.optional && (code === 'ENOENT' || code === 'ENOTDIR')) return null;
    // The errno is said in words; as a cause, describeError would print fs's own sentence after them.
    throw new ConfigError(`${how.label} ${path}: cannot read it: ${describePathError(err)}`);
  }
  return parseConfigFile(source, path, readFile);
}

/** Validates the text of a config file; `path` (absolute) names it in errors and anchors relative paths. */
export function parseConfigFile(source: string, path: string, readFile: ReadTextFile): ConfigFile {
  const counter = new LineCounter();
  const doc = parseDocument(source, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    throw fileError(path, counter.linePos(syntax.pos[0]).line, [], `not valid YAML: ${syntax.message.split('\n')[0] ?? ''}`);
  }
  const lineOf = lineLocator(doc, counter);
  const raw: unknown = doc.toJS() ?? {};
  const parsed = fileSchema().safeParse(raw);
  if (!parsed.success) throw firstIssue(path, parsed.error.issues, lineOf);
  const data = parsed.data as Record<string, unknown>;
  const dir = dirname(path);
  const options: Record<string, { value: unknown; line: number }> = {};
  for (const name of OPTION_NAMES) {
    const value = data[name];
    if (value === undefined) continue;
    const line = lineOf([name]);
    const d = optionDef(name);
    let textValue = Array.isArray(value) ? (d.list === 'json' ? JSON.stringify(value.map(String)) : value.map(String).join(',')) : String(value);
    if (d.path === 'file' || (d.path === 'command' && textValue.includes('/'))) textValue = resolve(dir, textValue);
    try {
      options[name] = { value: d.parse(textValue, name), line };
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      throw fileError(path, line, [name], reasonAfter(name, err.message));
    }
  }
  const vars = [
    ...Object.entries((data['set'] ?? {}) as Record<string, string | number>).map(
      ([name, value]): FileVar => ({ name, value: String(value), line: lineOf(['set', name]), key: `set.${name}`, secret: false }),
    ),
    ...Object.entries((data['set-from-file'] ?? {}) as Record<string, string>).map(([name, file]) =>
      readVarFile(path, name, resolve(dir, file), lineOf(['set-from-file', name]), readFile),
    ),
  ];
  const services = data['services'] === undefined ? null : toServices(path, data['services'] as z.infer<typeof serviceSchema>[], lineOf);
  return { path, options: options as ConfigFile['options'], vars, services, lineOf };
}

function readVarFile(configPath: string, name: string, file: string, line: number, readFile: ReadTextFile): FileVar {
  const key = ['set-from-file', name];
  let content: string;
  try {
    content = readFile(file);
  } catch (err) {
    throw fileError(configPath, line, key, `cannot read ${file}: ${describePathError(err)}`);
  }
  // A secret file usually ends with a newline that is not part of the secret.
  const value = content.replace(/\r?\n$/, '');
  if (value === '') throw fileError(configPath, line, key, `${file} is empty`);
  if (hasControl(value)) throw fileError(configPath, line, key, `${file} is not printable single-line text`);
  return { name, value, line, key: formatPath(key), secret: true };
}

// ---- services ----------------------------------------------------------------------------------------

type ServiceInput = z.infer<typeof serviceSchema>;

function toServices(file: string, items: readonly ServiceInput[], lineOf: (path: KeyPath) => number): ServiceDraft[] {
  const dir = dirname(file);
  const drafts = items.map((item, i) => toService(file, item, i, dir, lineOf));
  const names = new Map<string, number>();
  const prefixes: { prefix: string; index: number }[] = [];
  const binds: { address: Bind; text: string; index: number }[] = [];
  drafts.forEach((service, index) => {
    const fail = (key: KeyPath, reason: string): never => {
      const path = ['services', index, ...key];
      throw fileError(file, lineOf(path), path, reason);
    };
    const sameName = names.get(service.name);
    if (sameName !== undefined) fail(['name'], `"${service.name}" is already the name of services[${sameName}]`);
    names.set(service.name, index);
    for (const other of prefixes) {
      const inside = service.prefix.startsWith(other.prefix) || other.prefix.startsWith(service.prefix);
      if (inside) fail(['prefix'], `${service.prefix} overlaps ${other.prefix} of services[${other.index}]: no prefix may lie inside another`);
    }
    prefixes.push({ prefix: service.prefix, index });
    const addresses: { text: string; key: KeyPath }[] = [
      ...service.listen.map((a, j) => ({ text: a, key: typeof items[index]?.listen === 'string' ? ['listen'] : ['listen', j] })),
      ...(service.readListen === undefined ? [] : [{ text: service.readListen, key: ['read-listen'] }]),
    ];
    for (const { text: address, key } of addresses) {
      const parsed = parseBind(address);
      const clash = binds.find((b) => sameBind(b.address, parsed));
      if (clash !== undefined) {
        const whose = clash.index === index ? 'this service' : `services[${clash.index}]`;
        fail(key, `${address} is already bound by ${whose} (${clash.text})`);
      }
      binds.push({ address: parsed, text: address, index });
    }
  });
  return drafts;
}

function toService(file: string, item: ServiceInput, index: number, dir: string, lineOf: (path: KeyPath) => number): ServiceDraft {
  const fail = (key: KeyPath, reason: string): never => {
    const path = ['services', index, ...key];
    throw fileError(file, lineOf(path), path, reason);
  };
  if (item['forward-for'] && item.mode === 'tcp') fail(['forward-for'], 'needs mode: http (option forwardfor adds an HTTP header)');
  if (item.writer === 'single' && item.balance !== undefined && item.balance !== 'first') {
    fail(['balance'], `${item.balance} contradicts writer: single (a single writer is balance first)`);
  }
  const check = item.check ?? { type: 'tcp' as const };
  if (check.type !== 'http') {
    for (const key of ['method', 'path', 'host', 'expect-status'] as const) {
      if (check[key] !== undefined) fail(['check', key], `needs type: http (the check is ${check.type})`);
    }
    if (check.type === 'none' && check.port !== undefined) fail(['check', 'port'], 'has no meaning with type: none');
  }
  const prefix = normalizePrefix(item.prefix);
  const writerKey = item['writer-key'];
  if (writerKey !== undefined) {
    if (item.writer !== 'single') fail(['writer-key'], 'needs writer: single (it names the single writer\'s etcd record)');
    if (!writerKey.startsWith(prefix) || writerKey.length === prefix.length || /\s/.test(writerKey)) {
      fail(['writer-key'], `must be a key under the service's prefix ${prefix} (the same watch carries it), without blanks`);
    }
  }
  return {
    name: item.name,
    prefix,
    listen: typeof item.listen === 'string' ? [item.listen] : item.listen,
    mode: item.mode,
    balance: item.writer === 'single' ? 'first' : (item.balance ?? 'leastconn'),
    check:
      check.type === 'http'
        ? {
            type: 'http',
            method: check.method ?? 'GET',
            path: check.path ?? '/',
            ...(check.host === undefined ? {} : { host: check.host }),
            ...(check.port === undefined ? {} : { port: check.port }),
            expectStatus: check['expect-status'] ?? 200,
          }
        : check.type === 'tcp'
          ? { type: 'tcp', ...(check.port === undefined ? {} : { port: check.port }) }
          : { type: 'none' },
    serverOptions: item['server-options'] ?? [],
    forwardFor: item['forward-for'],
    minServers: item['min-servers'],
    defaultPort: item['default-port'] ?? (item.mode === 'http' ? 80 : 3306),
    writer: item.writer,
    ...(writerKey === undefined ? {} : { writerKey }),
    ...(item['read-listen'] === undefined ? {} : { readListen: item['read-listen'] }),
    ...(item.template === undefined ? {} : { template: isAbsolute(item.template) ? item.template : resolve(dir, item.template) }),
  };
}

interface Bind {
  readonly host: string;
  readonly from: number;
  readonly to: number;
}

/** `*:80`, `0.0.0.0:80` and `:80` are the same socket; a port range is compared by overlap. */
function parseBind(address: string): Bind {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon);
  const [from, to] = address.slice(colon + 1).split('-').map(Number);
  return { host: host === '' || host === '*' ? '0.0.0.0' : host.toLowerCase(), from: from ?? 0, to: to ?? from ?? 0 };
}

function sameBind(a: Bind, b: Bind): boolean {
  return a.host === b.host && a.from <= b.to && b.from <= a.to;
}
