/**
 * Exactly one scheduler per repository: a lease object at the repository's root,
 *
 *   <repo>/aerobak-lease.json   { owner, host, pid, acquiredAt, renewedAt, expiresAt }
 *
 * taken with the store's exclusive create (ObjectStore.create: of concurrent creates,
 * exactly one wins), renewed every third of its time to live, taken over only once it
 * has expired, and deleted on a clean exit. A service schedules and starts the jobs of a
 * repository only while it holds that repository's lease, and checks it again (one read)
 * right before each job starts.
 *
 * Taking over an expired lease is a delete followed by an exclusive create. Two services
 * that both see the same expired lease can interleave those steps, so the winner of the
 * create waits a moment (`settleMs`) and reads the lease again: only the service whose
 * owner id is in it after that holds it. A renewal reads before it writes and gives the
 * lease up when another owner is in it. The clocks of the machines are assumed to agree
 * to within a few seconds (the expiry is the holder's clock plus the TTL).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { StorageError } from '../storage/errors.js';
import { readAll } from '../storage/small-objects.js';
import type { ObjectStore } from '../storage/types.js';

export const LEASE_FILE = 'aerobak-lease.json';
export const LEASE_FORMAT = 'aerobak-lease';

export interface LeaseRecord {
  format: typeof LEASE_FORMAT;
  formatVersion: 1;
  owner: string;
  host: string;
  pid: number;
  acquiredAt: string;
  renewedAt: string;
  expiresAt: string;
}

export interface LeaseOptions {
  /** This service's owner id (one per process). */
  owner: string;
  ttlMs: number;
  now?: () => Date;
  /** Wait after a takeover before reading the lease back; default min(2 s, ttl / 10). */
  settleMs?: number;
  log?: (message: string) => void;
  /** Called when the lease is gained or lost. */
  onChange?: (held: boolean) => void;
}

/** A new owner id for this process. */
export function newOwnerId(): string {
  return `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
}

export class RepositoryLease {
  #held = false;
  #expiresAt = 0;
  #acquiredAt: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #busy: Promise<unknown> = Promise.resolve();
  /** The other holder last seen, for the API and messages. */
  holder: LeaseRecord | undefined;

  constructor(
    readonly store: ObjectStore,
    readonly name: string,
    private readonly opts: LeaseOptions,
  ) {}

  get held(): boolean {
    return this.#held && this.#now() < this.#expiresAt;
  }

  #now(): number {
    return (this.opts.now ?? (() => new Date()))().getTime();
  }

  #record(): LeaseRecord {
    const now = this.#now();
    this.#acquiredAt ??= new Date(now).toISOString();
    return {
      format: LEASE_FORMAT,
      formatVersion: 1,
      owner: this.opts.owner,
      host: hostname(),
      pid: process.pid,
      acquiredAt: this.#acquiredAt,
      renewedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.opts.ttlMs).toISOString(),
    };
  }

  async #read(): Promise<LeaseRecord | undefined> {
    try {
      const value = JSON.parse((await readAll(await this.store.read(LEASE_FILE))).toString('utf8')) as LeaseRecord;
      return value?.format === LEASE_FORMAT && typeof value.owner === 'string' && typeof value.expiresAt === 'string' ? value : undefined;
    } catch (error) {
      if (error instanceof StorageError && error.code === 'NOT_FOUND') return undefined;
      if (error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  #set(held: boolean, record?: LeaseRecord): void {
    if (record) this.#expiresAt = Date.parse(record.expiresAt);
    if (held === this.#held) return;
    this.#held = held;
    if (!held) this.#acquiredAt = undefined;
    this.opts.onChange?.(held);
  }

  async #create(): Promise<LeaseRecord | undefined> {
    const record = this.#record();
    try {
      await this.store.create(LEASE_FILE, [Buffer.from(`${JSON.stringify(record, null, 2)}\n`)]);
      return record;
    } catch (error) {
      if (error instanceof StorageError && error.code === 'ALREADY_EXISTS') return undefined;
      throw error;
    }
  }

  /** One attempt to take (or keep) the lease; resolves to whether it is held. */
  acquire(): Promise<boolean> {
    return this.#serial(async () => {
      if (this.#held) return this.#renewNow();
      let mine = await this.#create();
      if (!mine) {
        const current = await this.#read();
        if (current && current.owner === this.opts.owner) return this.#renewNow();
        if (current && Date.parse(current.expiresAt) > this.#now()) {
          this.holder = current;
          return false;
        }
        // Expired (or unreadable): take it over, then make sure no other taker overwrote us.
        this.opts.log?.(`the scheduler lease of repository ${this.name}${current ? ` held by ${current.owner} expired at ${current.expiresAt}` : ' is unreadable'}: taking it over`);
        await this.store.delete(LEASE_FILE);
        mine = await this.#create();
        if (!mine) return false;
        await new Promise((r) => setTimeout(r, this.opts.settleMs ?? Math.min(2000, this.opts.ttlMs / 10)));
        const after = await this.#read();
        if (!after || after.owner !== this.opts.owner) {
          this.holder = after;
          return false;
        }
      }
      this.holder = undefined;
      this.#set(true, mine);
      return true;
    });
  }

  /** Reads the lease and rewrites it with a new expiry if it is still ours. */
  async #renewNow(): Promise<boolean> {
    try {
      const current = await this.#read();
      if (!current || current.owner !== this.opts.owner) {
        this.opts.log?.(`lost the scheduler lease of repository ${this.name}${current ? ` to ${current.owner}` : ' (it was deleted)'}`);
        this.holder = current;
        this.#set(false);
        return false;
      }
      const record = this.#record();
      await this.store.write(LEASE_FILE, [Buffer.from(`${JSON.stringify(record, null, 2)}\n`)]);
      this.#set(true, record);
      return true;
    } catch (error) {
      // Storage trouble: still ours until it expires; after that nobody can prove it is.
      this.opts.log?.(`cannot renew the scheduler lease of repository ${this.name}: ${(error as Error).message}`);
      if (this.#now() >= this.#expiresAt) this.#set(false);
      return this.held;
    }
  }

  /** One read: is the lease still ours? (Before each job starts.) */
  async confirm(): Promise<boolean> {
    if (!this.held) return false;
    try {
      const current = await this.#read();
      if (current?.owner === this.opts.owner) return true;
      this.holder = current;
      this.#set(false);
      return false;
    } catch {
      return this.held;
    }
  }

  /** Tries now, then every ttl / 3: renews while held, tries to take it while not. */
  start(): Promise<boolean> {
    const tick = async () => {
      try {
        await this.acquire();
      } catch (error) {
        this.opts.log?.(`scheduler lease of repository ${this.name}: ${(error as Error).message}`);
        if (this.#now() >= this.#expiresAt) this.#set(false);
      }
      if (!this.#stopped) {
        this.#timer = setTimeout(() => void tick(), Math.max(500, Math.floor(this.opts.ttlMs / 3)));
        this.#timer.unref();
      }
      return this.held;
    };
    return tick();
  }

  /** Stops renewing and deletes the lease if it is ours. */
  async release(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#serial(async () => {
      if (!this.#held) return;
      try {
        const current = await this.#read();
        if (current?.owner === this.opts.owner) await this.store.delete(LEASE_FILE);
      } catch (error) {
        this.opts.log?.(`cannot release the scheduler lease of repository ${this.name}: ${(error as Error).message} (it expires by itself)`);
      }
      this.#set(false);
    });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(fn, fn);
    this.#busy = run.catch(() => undefined);
    return run;
  }
}
