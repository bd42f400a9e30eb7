/**
 * The default publisher: a folder that is also a static site. New version folders are copied
 * in (manifest last, each file by write-then-rename), existing ones are checked against the
 * zoo and never rewritten, then index.json, its signature and index.html are regenerated from
 * everything in the target, so a target can collect versions published from different zoos.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { EdgezooError } from '../errors.js';
import {
  CARD_FILE,
  INDEX_FILE,
  MANIFEST_FILE,
  YANK_FILE,
  VersionImmutableError,
  buildIndex,
  readManifestIfAny,
  versionDir,
  writeIndex,
  yankVersion,
  type IndexVersion,
  type YankRecord,
} from '../zoo/index.js';
import { sha256File } from '../util/hash.js';
import { copyFileAtomic, writeFileAtomic } from '../util/atomic-write.js';
import { pathExists } from '../util/path-exists.js';
import { renderPullClients } from './clients.js';
import { renderModelPages, renderSiteHtml } from './site.js';
import type { PublishOptions, PublishReport, PublishedVersion, Publisher } from './types.js';

export const SITE_FILE = 'index.html';

/** A file of a version folder. Every file is copied only when absent: present ones were checked (immutable) or are the target's own (card, yank record). */
interface FileToPlace {
  name: string;
  sha256?: string;
}

export interface DirectoryPublisherOptions {
  /** The URL the folder will be served at: the pull clients' default index is its index.json. */
  siteUrl?: string;
}

/** Publishes into a local folder (which a static web server can serve as is). */
export class DirectoryPublisher implements Publisher {
  constructor(
    readonly targetDir: string,
    readonly options: DirectoryPublisherOptions = {},
  ) {}

  async yank(name: string, version: string, reason: string, options: PublishOptions = {}): Promise<YankRecord> {
    const record = await yankVersion(this.targetDir, name, version, reason);
    await this.writeIndexAndSite(options);
    return record;
  }

  /** index.json (signed with a key), the pull clients and the HTML pages, from everything in the target. */
  private async writeIndexAndSite(options: PublishOptions): Promise<{ signed: boolean; indexUrl?: string }> {
    const written = await writeIndex(this.targetDir, options.signingKey ? { signingKey: options.signingKey } : {});
    const indexUrl = this.options.siteUrl
      ? new URL(INDEX_FILE, this.options.siteUrl.endsWith('/') ? this.options.siteUrl : `${this.options.siteUrl}/`).href
      : undefined;
    const clients: string[] = [];
    for (const client of await renderPullClients({
      ...(indexUrl ? { indexUrl } : {}),
      ...(options.signingKey ? { signingKey: options.signingKey } : {}),
    })) {
      await writeFileAtomic(path.join(this.targetDir, client.name), client.bytes);
      clients.push(client.name);
    }
    for (const model of written.index.models) {
      const cards = new Map<string, string>();
      for (const version of model.versions)
        cards.set(
          version.version,
          await readFile(path.join(versionDir(this.targetDir, model.name, version.version), CARD_FILE), 'utf8'),
        );
      for (const sitePage of renderModelPages(model, cards))
        await writeFileAtomic(path.join(this.targetDir, sitePage.path), sitePage.html);
    }
    await writeFileAtomic(
      path.join(this.targetDir, SITE_FILE),
      renderSiteHtml(written.index, { signed: written.signed, clients }),
    );
    return { signed: written.signed, ...(indexUrl ? { indexUrl } : {}) };
  }

  async publish(zooDir: string, options: PublishOptions = {}): Promise<PublishReport> {
    const source = await buildIndex(zooDir);
    if (path.resolve(zooDir) === path.resolve(this.targetDir)) {
      throw new EdgezooError('PUBLISH_TARGET_IS_ZOO', `the publish target ${this.targetDir} is the zoo itself`, {
        hint: 'publish to another folder, e.g. --to dir:public',
      });
    }
    // Check every version first, so a refusal leaves the target exactly as it was.
    const plans: Array<{
      name: string;
      version: IndexVersion;
      files: FileToPlace[];
      state: PublishedVersion['state'];
    }> = [];
    for (const model of source.models) {
      for (const version of model.versions) {
        const files = await this.planVersion(model.name, version);
        const published = await readManifestIfAny(versionDir(this.targetDir, model.name, version.version));
        const state = published
          ? 'unchanged'
          : (await pathExists(versionDir(this.targetDir, model.name, version.version)))
            ? 'completed'
            : 'new';
        plans.push({ name: model.name, version, files, state });
      }
    }

    let filesUploaded = 0;
    let bytesUploaded = 0;
    let filesSkipped = 0;
    for (const plan of plans) {
      options.signal?.throwIfAborted();
      const from = versionDir(zooDir, plan.name, plan.version.version);
      const to = versionDir(this.targetDir, plan.name, plan.version.version);
      await mkdir(to, { recursive: true });
      for (const file of plan.files) {
        const target = path.join(to, file.name);
        if (await pathExists(target)) {
          filesSkipped += 1;
          options.onEvent?.({
            kind: 'file',
            name: plan.name,
            version: plan.version.version,
            file: file.name,
            state: 'skipped',
            bytes: 0,
          });
          continue;
        }
        const bytes = await copyFileAtomic(path.join(from, file.name), target);
        filesUploaded += 1;
        bytesUploaded += bytes;
        options.onEvent?.({
          kind: 'file',
          name: plan.name,
          version: plan.version.version,
          file: file.name,
          state: 'uploaded',
          bytes,
        });
      }
      options.onEvent?.({ kind: 'version', name: plan.name, version: plan.version.version, state: plan.state });
    }

    const written = await this.writeIndexAndSite(options);
    return {
      target: this.targetDir,
      versions: plans.map((p) => ({ name: p.name, version: p.version.version, state: p.state })),
      filesUploaded,
      bytesUploaded,
      filesSkipped,
      signed: written.signed,
      ...(written.indexUrl ? { indexUrl: written.indexUrl } : {}),
    };
  }

  /**
   * The files of one version in copy order (manifest last), after checking that what the target
   * already holds is the same bytes. With a manifest at the target, its recorded sha256 are
   * compared (no re-hash of published files); without one (an interrupted copy), present files
   * are hashed.
   */
  private async planVersion(name: string, version: IndexVersion): Promise<FileToPlace[]> {
    const immutable = [
      ...version.artifacts.flatMap((a) => a.files.map((f) => ({ name: f.name, sha256: f.sha256 }))),
      ...(version.licenseFile
        ? [{ name: path.posix.basename(version.licenseFile.url), sha256: version.licenseFile.sha256 }]
        : []),
    ];
    const to = versionDir(this.targetDir, name, version.version);
    const published = await readManifestIfAny(to);
    const publishedSha = new Map<string, string>();
    if (published) {
      for (const a of published.artifacts) for (const f of a.files) publishedSha.set(f.name, f.sha256);
      if (published.licenseFile) publishedSha.set(published.licenseFile.name, published.licenseFile.sha256);
    }
    const hint = `a published version never changes: bump the version of ${name} and build again`;
    for (const file of immutable) {
      const target = path.join(to, file.name);
      const there = published
        ? publishedSha.get(file.name)
        : (await pathExists(target))
          ? await sha256File(target)
          : undefined;
      if (published && there === undefined) {
        throw new VersionImmutableError(
          `${name}@${version.version} is already published at ${to} without ${file.name} (new sha256 ${file.sha256})`,
          hint,
        );
      }
      if (there !== undefined && there !== file.sha256) {
        throw new VersionImmutableError(
          `${target} is already published with sha256 ${there}; the zoo has sha256 ${file.sha256}`,
          hint,
        );
      }
    }
    if (published) {
      const ours = new Set(immutable.map((f) => f.name));
      for (const [file, sha] of publishedSha) {
        if (!ours.has(file))
          throw new VersionImmutableError(
            `${path.join(to, file)} (sha256 ${sha}) is published but not in the zoo's ${name}@${version.version}`,
            hint,
          );
      }
    }
    return [...immutable, { name: CARD_FILE }, { name: YANK_FILE }, { name: MANIFEST_FILE }].filter(
      (f) => f.name !== YANK_FILE || version.yanked !== undefined,
    );
  }
}
