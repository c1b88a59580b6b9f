import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import nunjucks from 'nunjucks';
import { RenderError } from '../errors.js';
import { formatEndpoint } from '../model/decode-cluster.js';
import type { ClusterState } from '../model/types.js';
import { embeddedAssetPath } from '../sea-assets.js';
import { assertPrintable, cfgFilter } from './context-guard.js';
import { defaultVars, validateVars } from './template-vars.js';
import { nodesOf } from '../model/decode-cluster.js';
import type { ServiceSpec } from '../model/service.js';
import { implicitService } from './implicit-service.js';

export interface RendererOptions {
  /** A custom template; the default is {@link defaultTemplatePath}. */
  templatePath?: string;
  /** `--set` values, already parsed; validated again here so library callers get the same checks. */
  vars?: Record<string, string>;
  /**
   * The sections to render, in order. @default the one implicit Galera service of the variables
   * (see implicitService), whose nodes are every node of the state.
   */
  services?: readonly ServiceSpec[];
}

export interface RenderMeta {
  /** The etcd revision the state was read at; printed in the header (no timestamp: bytes must be stable). */
  readonly revision: string;
  /** Where the nodes came from, for the header. @default "etcd revision <revision>" */
  readonly origin?: string;
}

export interface Renderer {
  readonly templatePath: string;
  /** Renders `state`; throws {@link RenderError} with the template file and line on failure. */
  render(state: ClusterState, meta: RenderMeta): string;
}

/** One server as templates see it. `addr` is the address as HAProxy wants it (IPv6 in brackets). */
export interface TemplateNode {
  readonly name: string;
  readonly address: string;
  readonly addr: string;
  readonly port: number;
  readonly endpoint: string;
  readonly weight: number;
  /**
   * The weight in the write listener: in single-writer mode the node's weight for the writer its etcd
   * record names and 0 for every other node; otherwise `weight`.
   */
  readonly write_weight: number;
  readonly backup: boolean;
  readonly host: string;
  /** Render the server in HAProxy's DRAIN state: end its line with `# draining` (see parse-servers.ts). */
  readonly draining: boolean;
}

/**
 * `templates/haproxy.cfg.njk` under the package root. This file sits two levels below the root both as
 * `src/render/*.ts` (vitest, tsx) and as `dist/render/*.js` (after tsc), so one relative path serves both.
 */
export function defaultTemplatePath(): string {
  // The standalone binary is a CommonJS bundle without import.meta.url; it carries the template inside
  // itself and unpacks it (see src/sea-assets.ts); run any other way, there is no embedded copy.
  const embedded = embeddedAssetPath('templates/haproxy.cfg.njk');
  if (embedded !== undefined) return embedded;
  return fileURLToPath(new URL('../../templates/haproxy.cfg.njk', import.meta.url));
}

/**
 * Loads and compiles the template once (a syntax error surfaces here, at start-up, not at the first
 * change). `autoescape` is off because the output is not HTML; `throwOnUndefined` turns a misspelt
 * variable into an error instead of an empty string in a directive.
 */
export function createRenderer(options: RendererOptions = {}): Renderer {
  const templatePath = path.resolve(options.templatePath ?? defaultTemplatePath());
  const custom = options.templatePath !== undefined && templatePath !== defaultTemplatePath();
  const userVars = options.vars ?? {};
  validateVars(userVars, { customTemplate: custom });
  const vars = { ...defaultVars(), ...userVars };

  let source: string;
  try {
    source = readFileSync(templatePath, 'utf8');
  } catch (err) {
    throw new RenderError(`cannot read template ${templatePath}`, { cause: err });
  }
  // The loader lets a template `{% include %}` files next to it.
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(path.dirname(templatePath)), {
    autoescape: false,
    throwOnUndefined: true,
    trimBlocks: true,
    lstripBlocks: true,
  });
  env.addFilter('cfg', cfgFilter);
  let template: nunjucks.Template;
  try {
    template = new nunjucks.Template(source, env, templatePath, true);
  } catch (err) {
    throw templateError(templatePath, err);
  }

  const services = options.services ?? [implicitService(vars, { prefix: '/', minServers: 1 })];
  const fragments = new Map<string, { path: string; template: nunjucks.Template }>();
  for (const service of services) {
    if (service.template === undefined) continue;
    const fragmentPath = path.resolve(service.template);
    let text: string;
    try {
      text = readFileSync(fragmentPath, 'utf8');
    } catch (err) {
      throw new RenderError(`service ${service.name}: cannot read template ${fragmentPath}`, { cause: err });
    }
    try {
      fragments.set(service.name, { path: fragmentPath, template: new nunjucks.Template(text, env, fragmentPath, true) });
    } catch (err) {
      throw templateError(fragmentPath, err);
    }
  }

  return {
    templatePath,
    render(state, meta) {
      const base = { ...vars, revision: meta.revision, origin: meta.origin ?? `etcd revision ${meta.revision}` };
      const sections = services.map((service, i) => {
        const writer = service.writer === 'single' ? (state.writers?.get(service.name) ?? null) : undefined;
        return toTemplateService(service, nodesOf(state, service.name, i === 0).map((node) => toTemplateNode(node, writer)));
      });
      const context: Record<string, unknown> = { ...base, nodes: sections[0]?.nodes ?? [], services: sections };
      assertPrintable(context, '');
      for (const section of sections) {
        const fragment = fragments.get(section.name);
        if (fragment === undefined) continue;
        try {
          section.block = fragment.template.render({ ...context, service: section, nodes: section.nodes }).replace(/\n+$/, '');
        } catch (err) {
          throw templateError(fragment.path, err);
        }
      }
      try {
        return template.render(context);
      } catch (err) {
        throw templateError(templatePath, err);
      }
    },
  };
}

/** One service as templates see it (snake_case, like the variables). */
export interface TemplateService {
  readonly name: string;
  readonly prefix: string;
  readonly listen: readonly string[];
  readonly mode: string;
  readonly balance: string;
  readonly forward_for: boolean;
  readonly default_port: number;
  readonly check: { readonly type: string; readonly method: string; readonly path: string; readonly host: string; readonly port: number | ''; readonly expect_status: number };
  /** `default-server` keywords of the service, space-separated ('' for none). */
  readonly server_options: string;
  readonly writer: string;
  readonly read_listen: string;
  readonly min_servers: number;
  readonly nodes: readonly TemplateNode[];
  /** The service's own fragment, rendered; '' when it has none (the template renders the default block). */
  block: string;
}

function toTemplateService(service: ServiceSpec, nodes: TemplateNode[]): TemplateService {
  const check = service.check;
  return {
    name: service.name,
    prefix: service.prefix,
    listen: [...service.listen],
    mode: service.mode,
    balance: service.balance,
    forward_for: service.forwardFor,
    default_port: service.defaultPort,
    check: {
      type: check.type,
      method: check.type === 'http' ? check.method : '',
      path: check.type === 'http' ? check.path : '',
      host: check.type === 'http' ? (check.host ?? '') : '',
      port: check.type !== 'none' && check.port !== undefined ? check.port : '',
      expect_status: check.type === 'http' ? check.expectStatus : 0,
    },
    server_options: service.serverOptions.join(' '),
    writer: service.writer,
    read_listen: service.readListen ?? '',
    min_servers: service.minServers,
    nodes,
    block: '',
  };
}

/** `writer`: the single writer's server name, null for none, undefined when every node takes writes. */
function toTemplateNode(node: ClusterState['nodes'][number], writer: string | null | undefined): TemplateNode {
  const endpoint = formatEndpoint(node.address, node.port);
  return {
    name: node.name,
    address: node.address,
    addr: node.address.includes(':') ? `[${node.address}]` : node.address,
    port: node.port,
    endpoint,
    weight: node.weight,
    write_weight: writer === undefined || writer === node.name ? node.weight : 0,
    backup: node.backup,
    host: node.host ?? '',
    draining: node.draining === true,
  };
}

/**
 * nunjucks reports `(path) [Line 3, Column 5]\n  message` (sometimes `Error: message`); this folds it
 * into one line that starts with `file:line:col` so editors and operators can jump to it. The nunjucks
 * error is not kept as the cause: its text is all in this message, and a cause is printed after it.
 */
function templateError(file: string, err: unknown): RenderError {
  if (err instanceof RenderError) return err;
  const raw = err instanceof Error ? err.message : String(err);
  const position = /\[Line (\d+)(?:, Column (\d+))?\]/.exec(raw);
  const message = raw
    .replace(/^\s*\([^)]*\)\s*(?:\[Line \d+(?:, Column \d+)?\])?/, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .join(' ')
    .replace(/^Error: /, '');
  const at = position ? `${file}:${position[1]}${position[2] ? `:${position[2]}` : ''}` : file;
  // nunjucks does not say which value was undefined; the `{{ … }}` at that line and column does.
  const expression = /null or undefined value/.test(message) && position ? expressionAt(file, Number(position[1]), Number(position[2] ?? 1)) : undefined;
  return new RenderError(`template ${at}: ${expression === undefined ? message : `${expression} is not defined`}`, {
    file,
    ...(position ? { line: Number(position[1]) } : {}),
    ...(expression === undefined ? {} : { undefinedExpression: expression }),
  });
}

/** The `{{ expression }}` on line `line` of `file` that starts at or before `column`, or undefined. */
function expressionAt(file: string, line: number, column: number): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').split('\n')[line - 1] ?? '';
  } catch {
    return undefined;
  }
  let found: string | undefined;
  for (const match of text.matchAll(/\{\{-?\s*(.*?)\s*-?\}\}/g)) {
    if ((match.index ?? 0) <= column) found = match[1];
  }
  return found;
}
