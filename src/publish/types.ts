/** The one interface every publisher implements, and what a publish reports back. */
import type { KeyObject } from 'node:crypto';

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
}

/** Publishes a zoo folder (artifacts/zoo) somewhere. Re-running with the same zoo changes nothing. */
export interface Publisher {
  publish(zooDir: string, options: PublishOptions): Promise<PublishReport>;
}
