import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  /** Client certificate whose CN is `clientCommonName` (etcd maps it to a user under cert auth). */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execa('openssl', args, { cwd, stdin: 'ignore' });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT') throw new Error('openssl not found: install it (apt-get install openssl)', { cause: err });
    throw err;
  }
}

/**
 * A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate, all signed by
 * that CA, written to `dir`. EC keys keep generation fast on CI.
 */
export async function createTestPki(dir: string, clientCommonName = 'galera-haproxy'): Promise<TestPki> {
  const f = (name: string): string => join(dir, name);
  await writeFile(
    f('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n',
  );
  await writeFile(f('client.ext'), 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n');
  const ecKey = (out: string): string[] => ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', out];
  await openssl(ecKey('ca.key'), dir);
  await openssl(['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '2', '-subj', '/CN=galera-haproxy test CA', '-out', 'ca.pem'], dir);
  for (const [name, cn] of [
    ['server', 'localhost'],
    ['client', clientCommonName],
  ] as const) {
    await openssl(ecKey(`${name}.key`), dir);
    await openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`], dir);
    await openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.pem`],
      dir,
    );
  }
  return {
    dir,
    caFile: f('ca.pem'),
    serverCertFile: f('server.pem'),
    serverKeyFile: f('server.key'),
    clientCertFile: f('client.pem'),
    clientKeyFile: f('client.key'),
  };
}
