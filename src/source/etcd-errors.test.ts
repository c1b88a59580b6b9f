import { describe, expect, it } from 'vitest';
import { explainUnreachable } from './etcd-errors.js';

const EP = ['http://127.0.0.1:2379'];

describe('explainUnreachable', () => {
  it('says what went wrong instead of the gRPC text', () => {
    expect(explainUnreachable('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2379. Resolution note:', EP, 5000)).toBe(
      'etcd at http://127.0.0.1:2379: connection refused',
    );
    expect(explainUnreachable('4 DEADLINE_EXCEEDED: Deadline exceeded after 5.001s,LB pick: 0.000s (Waiting for LB pick)', EP, 5000)).toBe('etcd at http://127.0.0.1:2379: no answer in 5 s');
    expect(explainUnreachable('14 UNAVAILABLE: ... SSL routines:ssl3_get_record:wrong version number', ['https://a:2379', 'https://b:2379'], 5000)).toBe(
      'etcd at https://a:2379, https://b:2379: TLS handshake failed',
    );
  });

  it('leaves anything else alone', () => {
    expect(explainUnreachable('etcdserver: permission denied', EP, 5000)).toBeNull();
  });
});
