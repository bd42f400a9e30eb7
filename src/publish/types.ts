/** The one interface every publisher implements, and what a publish reports back. */
import type { KeyObject } from 'node:crypto';
import type { YankRecord } from '../zoo/index.js';

/** Something a publisher did, for progress output. */
export type PublishEvent =
  | { kind: 'version'; name: string; version: string; state: 'new' | 'unchanged' | 'completed' }
  | {
      kind: 'file';
      name: string;
      version: string;
      file: string;
      state: 'uploaded' | 'skipped' | 'replaced-partial';
      bytes: number;
    }
  | { kind: 'note'; message: string };

export interface PublishOptions {
  /** ed25519 key for index.json.sig; without it the published index is unsigned. */
  signingKey?: KeyObject;
  onEvent?: (event: PublishEvent) => void;
  signal?: AbortSignal;
}

export interface PublishedVersion {
  name: string;
  version: string;
  /** new: published now; unchanged: already there, identical; completed: an interrupted earlier publish was finished. */
  state: 'new' | 'unchanged' | 'completed';
}

export interface PublishReport {
  /** Where it went: a folder, or `github:owner/repo`. */
  target: string;
  versions: PublishedVersion[];
  filesUploaded: number;
  bytesUploaded: number;
  filesSkipped: number;
  signed: boolean;
  /** Where pull finds the published index.json, when the publisher knows (GitHub; a folder with a site URL). */
  indexUrl?: string;
}

/** Publishes a zoo folder (artifacts/zoo) somewhere. Re-running with the same zoo changes nothing. */
export interface Publisher {
  publish(zooDir: string, options: PublishOptions): Promise<PublishReport>;
  /**
   * Marks a published version yanked on the target (the first record stays when it already is)
   * and rewrites the target's index, so `pull` with a range skips it.
   */
  yank(name: string, version: string, reason: string, options: PublishOptions): Promise<YankRecord>;
}
