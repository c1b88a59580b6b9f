import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';

/**
 * The clustercheck password: a file (mode 0600, like a .my.cnf) wins over `CLUSTERCHECK_PASSWORD`,
 * which wins over `MYSQL_PWD`. Never a flag: flags show up in `ps` and in shell history.
 */
export async function resolveMysqlPassword(
  env: NodeJS.ProcessEnv,
  passwordFile: string | undefined,
): Promise<string | undefined> {
  if (passwordFile !== undefined) {
    let text: string;
    try {
      text = await readFile(passwordFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read --mysql-password-file ${passwordFile}`, { cause: err });
    }
    // Only the line ending an editor adds; spaces inside a password are significant.
    return text.replace(/\r?\n$/, '');
  }
  return env.CLUSTERCHECK_PASSWORD ?? env.MYSQL_PWD;
}
