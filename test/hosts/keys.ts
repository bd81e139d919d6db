import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { tempDir } from '../tmp.js'
import { run } from './exec.js'

export type KeyType = 'ed25519' | 'ecdsa' | 'rsa'
export const KEY_TYPES: readonly KeyType[] = ['ed25519', 'ecdsa', 'rsa']

/** An SSH key pair on disk. */
export interface ClientKey {
  /** Private key text (OpenSSH format, or PEM with `format: 'pem'`). */
  privateKey: string
  /** Public key line: '<type> <base64> <comment>'. */
  publicKey: string
  /** Path of the private key file (the public key is at `${path}.pub`). */
  path: string
}

export interface KeyOptions {
  type?: KeyType
  /** Default: none. */
  passphrase?: string
  /** 'pem' writes the legacy PEM encoding (ssh-keygen -m PEM). Default 'openssh'. */
  format?: 'openssh' | 'pem'
  comment?: string
  /** Directory for the key files. Default: a fresh temp dir (test/tmp.ts: removed after the test file). */
  dir?: string
}

/** Generates a key pair with ssh-keygen (RSA keys are 2048 bit to keep labs fast). */
export async function makeClientKey(opts: KeyOptions = {}): Promise<ClientKey> {
  const type = opts.type ?? 'ed25519'
  let dir = opts.dir
  dir ??= tempDir('key')
  const path = join(dir, `id_${type}${opts.passphrase ? '_pass' : ''}`)
  await keygen(path, type, opts.comment ?? 'dzd-lab', opts.passphrase ?? '', opts.format)
  return {
    privateKey: readFileSync(path, 'utf8'),
    publicKey: readFileSync(`${path}.pub`, 'utf8').trim(),
    path,
  }
}

/** Runs ssh-keygen for a new key at `path` (overwrites nothing: fails if it exists). */
export async function keygen(
  path: string,
  type: KeyType,
  comment: string,
  passphrase = '',
  format: 'openssh' | 'pem' = 'openssh',
): Promise<void> {
  const size = type === 'rsa' ? ['-b', '2048'] : []
  const pem = format === 'pem' ? ['-m', 'PEM'] : []
  await run([
    'ssh-keygen',
    '-q',
    '-t',
    type,
    ...size,
    ...pem,
    '-N',
    passphrase,
    '-C',
    comment,
    '-f',
    path,
  ])
}

/** '<type> <base64>' of a public key file (comment dropped). */
export function publicKeyLine(pubPath: string): string {
  return readFileSync(pubPath, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')
}

/** Hashes known_hosts text with `ssh-keygen -H` (host names become |1|salt|hash). */
export async function hashKnownHosts(knownHosts: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'dzd-kh-'))
  try {
    const file = join(dir, 'known_hosts')
    writeFileSync(file, knownHosts)
    await run(['ssh-keygen', '-q', '-H', '-f', file])
    return readFileSync(file, 'utf8')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
