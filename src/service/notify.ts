/**
 * Failure notifications: a POST of a Slack-compatible JSON body, `{"text": "..."}`, to
 * the webhook of the routine (or the service's). Slack, Mattermost, Rocket.Chat,
 * Google Chat and Microsoft Teams' incoming webhooks take this body.
 *
 * Delivery is best effort and never blocks or fails a job: one attempt and one retry
 * after a second, 10 s each; a notification that cannot be delivered is logged (without
 * the URL, which is a secret) and counted in aerobak_notify_failures_total.
 */
import { hostname } from 'node:os';
import type { NotifyConfig } from './config.js';

export interface Notification {
  routine?: string;
  /** One line: what failed and why. */
  text: string;
}

export class Notifier {
  readonly #pending = new Set<Promise<void>>();

  constructor(
    private readonly log: (message: string) => void,
    private readonly onFailure: () => void,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  /** Sends in the background; `flush()` waits for what is in flight. */
  send(config: NotifyConfig | undefined, n: Notification): void {
    if (!config) return;
    const body = JSON.stringify({ text: `aerobak on ${hostname()}: ${n.text}` });
    const p = this.#deliver(config.webhook, body).finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  async #deliver(url: string, body: string): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const res = await this.fetchImpl(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(10_000) });
        await res.body?.cancel();
        if (res.ok) return;
        if (res.status < 500 && res.status !== 429) {
          this.log(`the notification webhook answered HTTP ${res.status}: notification dropped`);
          this.onFailure();
          return;
        }
      } catch {
        // Network trouble: retried once below.
      }
      if (attempt === 0) await new Promise((r) => setTimeout(r, 1000).unref());
    }
    this.log('the notification webhook could not be reached: notification dropped');
    this.onFailure();
  }

  /** Waits (at most `timeoutMs`) for notifications in flight, for a clean shutdown. */
  async flush(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.#pending]), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }
}
