import mysql, { type ConnectionOptions, type RowDataPacket } from 'mysql2/promise';

/** One connection, one statement (or several with multipleStatements), then close. */
export async function queryOnce(
  target: ConnectionOptions,
  sql: string,
  extra: Partial<ConnectionOptions> = {},
): Promise<RowDataPacket[]> {
  const connection = await mysql.createConnection({ connectTimeout: 2_000, ...target, ...extra });
  try {
    const [rows] = await connection.query<RowDataPacket[]>({ sql, timeout: 5_000 });
    return Array.isArray(rows) ? rows : [];
  } finally {
    connection.destroy();
  }
}
