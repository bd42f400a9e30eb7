/**
 * Publishes each model version as one GitHub release, tag `<model>@<version>`.
 *
 * A release is created as a draft, assets are uploaded, and only when every asset is there with
 * the right size (and sha256, from the asset digest or the SHA256SUMS asset) is the draft
 * published. A run killed midway leaves a draft, which nobody downloads from; the next run finds
 * it and completes it. A published release is immutable: differing assets are refused.
 *
 * Why `<model>@<version>`: model names are lower-case letters, digits and dashes, so `@` splits
 * the tag unambiguously; it reads like the `edgezoo pull NAME@VERSION` a user types, and like
 * the per-package tags of JS monorepos (changesets). `<model>-v<version>` would be ambiguous to
 * read for models whose names end in `-v2`.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Octokit } from 'octokit';
import semver from 'semver';
import { EdgezooError } from '../errors.js';
import { isLoopbackHost } from '../fetch/url-policy.js';
import {
  buildIndex,
  CARD_FILE,
  INDEX_FILE,
  INDEX_SIGNATURE_FILE,
  indexModelOf,
  indexVersionOf,
  MANIFEST_FILE,
  parseManifest,
  signBytes,
  stableJson,
  versionDir,
  YANK_FILE,
  YANK_SCHEMA,
  yankSchema,
  zooIndexOf,
  type IndexModel,
  type IndexVersion,
  type Manifest,
  type YankRecord,
} from '../zoo/index.js';
import { sha256Hex } from '../util/hash.js';
import { renderPullClients } from './clients.js';
import { DEFAULT_GITHUB_URL, githubIndexUrl, INDEX_RELEASE_TAG, relativeReleaseUrl } from './github-layout.js';
import type { PublishOptions, PublishReport, PublishedVersion, Publisher } from './types.js';

/** GitHub refuses release assets of 2 GiB or more; we refuse them before uploading anything. */
export const MAX_ASSET_BYTES = 2 * 1024 * 1024 * 1024;
export const SUMS_ASSET = 'SHA256SUMS';

/** The tag (and release name) of a model version. */
export function releaseTag(name: string, version: string): string {
  return `${name}@${version}`;
}

export interface GitHubPublisherOptions {
  owner: string;
  repo: string;
  /** A token with contents:write (GITHUB_TOKEN). */
  token?: string;
  /** REST API root; default https://api.github.com. Tests point it at a loopback server. */
  baseUrl?: string;
  /** Retries of failed requests (5xx, resets) by @octokit/plugin-retry; default 3. */
  retries?: number;
  /** How many times one request may wait out a rate limit (403/429) before failing; default 3. */
  rateLimitRetries?: number;
  /** Longest rate-limit wait accepted, in seconds, before giving up with an error; default 900. */
  maxRateLimitWaitSeconds?: number;
  /**
   * Milliseconds per "second" of the plugins' waits (retry backoff, retry-after, rate-limit
   * reset); default 1000. Tests set it to a few ms so faults do not make them slow.
   */
  waitUnitMs?: number;
  /** Space mutating requests 1 s apart as GitHub asks (default true); tests turn it off. */
  spaceWrites?: boolean;
  /** Web root the release downloads are under, for the pull clients' default index; default https://github.com. */
  webUrl?: string;
}

interface ReleaseData {
  id: number;
  tag_name: string;
  draft: boolean;
  upload_url: string;
  html_url?: string;
  prerelease?: boolean;
}

interface AssetData {
  id: number;
  name: string;
  size: number;
  state: string;
  /** `sha256:<hex>`, on releases created since GitHub started recording digests. */
  digest?: string | null;
}

interface LocalAsset {
  name: string;
  size: number;
  sha256: string;
  read: () => Promise<Buffer>;
}

/** A limiter group that lets requests through at once (the plugin only calls `key().schedule()`). */
const passThroughGroup = {
  key: () => ({
    schedule: (_options: unknown, task: (...args: unknown[]) => unknown, ...args: unknown[]) =>
      Promise.resolve(task(...args)),
  }),
};

/**
 * The API root, checked: the token goes with every request to it, so it must be https (plain
 * http only on loopback, for a local stand-in of the API).
 */
function checkApiRoot(baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new EdgezooError('GITHUB_API_INVALID', `the GitHub API root "${baseUrl}" is not a URL`, { exitCode: 2 });
  }
  if (url.username || url.password)
    throw new EdgezooError(
      'GITHUB_API_INVALID',
      'the GitHub API root must not carry credentials; the token comes from GITHUB_TOKEN',
      {
        exitCode: 2,
      },
    );
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))) return url;
  throw new EdgezooError(
    'GITHUB_API_INSECURE',
    `the GitHub API root ${url.href} is not https; the token would travel in clear text`,
    { hint: 'use https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise', exitCode: 2 },
  );
}

/**
 * Origins the token may go to besides the API root's own: GitHub.com takes uploads on
 * uploads.github.com (GitHub Enterprise on the API's own host). A release's `upload_url` naming
 * anything else is refused, so a hostile or misconfigured server cannot collect the token.
 */
function uploadOrigins(api: URL): Set<string> {
  const origins = new Set([api.origin]);
  if (api.origin === 'https://api.github.com') origins.add('https://uploads.github.com');
  return origins;
}

export class GitHubReleasesPublisher implements Publisher {
  private readonly octokit: InstanceType<typeof Octokit>;
  private notes: string[] = [];
  private readonly allowedUploadOrigins: Set<string>;

  constructor(readonly options: GitHubPublisherOptions) {
    const api = checkApiRoot(options.baseUrl ?? 'https://api.github.com');
    this.allowedUploadOrigins = uploadOrigins(api);
    const unit = options.waitUnitMs ?? 1000;
    const maxWait = options.maxRateLimitWaitSeconds ?? 900;
    const rateLimitRetries = options.rateLimitRetries ?? 3;
    const onLimit = (
      retryAfter: number,
      request: { method: string; url: string },
      _octokit: unknown,
      retryCount: number,
    ) => {
      const retry = retryCount < rateLimitRetries && retryAfter <= maxWait;
      this.note(`rate limited on ${request.method} ${request.url}; ${retry ? `waiting ${retryAfter} s` : 'giving up'}`);
      return retry;
    };
    // Octokit from `octokit` already carries @octokit/plugin-retry and @octokit/plugin-throttling;
    // we configure them here rather than plugging them in twice.
    this.octokit = new Octokit({
      ...(options.token ? { auth: options.token } : {}),
      baseUrl: options.baseUrl ?? 'https://api.github.com',
      userAgent: 'edgezoo',
      retry: { retries: options.retries ?? 3, retryAfterBaseValue: unit },
      throttle: {
        onRateLimit: onLimit,
        onSecondaryRateLimit: onLimit,
        retryAfterBaseValue: unit,
        ...(options.spaceWrites === false ? { write: passThroughGroup, notifications: passThroughGroup } : {}),
      } as never,
      // Library code never prints: the plugins' warnings become notes in the report.
      log: {
        debug: () => {},
        info: () => {},
        warn: (message: string) => this.note(message),
        error: (message: string) => this.note(message),
      },
    });
  }

  private note(message: string): void {
    this.notes.push(message);
  }

  async publish(zooDir: string, options: PublishOptions = {}): Promise<PublishReport> {
    const index = await buildIndex(zooDir);
    const plans: Array<{ name: string; version: IndexVersion; assets: LocalAsset[] }> = [];
    for (const model of index.models) {
      for (const version of model.versions) {
        plans.push({
          name: model.name,
          version,
          assets: await localAssets(versionDir(zooDir, model.name, version.version), version),
        });
      }
    }
    // Refuse oversized assets before touching GitHub, so nothing is left half-published.
    for (const plan of plans) {
      for (const asset of plan.assets) {
        if (asset.size >= MAX_ASSET_BYTES) {
          throw new EdgezooError(
            'ASSET_TOO_LARGE',
            `${asset.name} of ${plan.name}@${plan.version.version} has ${asset.size} bytes; GitHub release assets must be under 2 GiB (${MAX_ASSET_BYTES} bytes)`,
            {
              hint: 'publish this zoo to a folder (--to dir:PATH) served by a static host instead',
            },
          );
        }
      }
    }
    const report: PublishReport = {
      target: `github:${this.options.owner}/${this.options.repo}`,
      versions: [],
      filesUploaded: 0,
      bytesUploaded: 0,
      filesSkipped: 0,
      signed: false,
    };
    const emit = options.onEvent ?? (() => {});
    for (const plan of plans) {
      options.signal?.throwIfAborted();
      const state = await this.publishVersion(plan.name, plan.version.version, plan.assets, report, options);
      report.versions.push({ name: plan.name, version: plan.version.version, state });
      emit({ kind: 'version', name: plan.name, version: plan.version.version, state });
      // A yank recorded in the zoo reaches the release (the one file a published release gains).
      if (plan.version.yanked)
        await this.addYankRecord(plan.name, plan.version.version, { schema: YANK_SCHEMA, ...plan.version.yanked });
    }
    options.signal?.throwIfAborted();
    await this.publishIndex(report, options);
    for (const message of this.notes.splice(0)) emit({ kind: 'note', message });
    return report;
  }

  /**
   * Marks a published version yanked: a `yanked.json` asset on its release (kept when there is
   * one already), then the index rebuilt, so `pull` with a range skips it from now on.
   */
  async yank(name: string, version: string, reason: string, options: PublishOptions = {}): Promise<YankRecord> {
    const record = await this.addYankRecord(name, version, {
      schema: YANK_SCHEMA,
      reason,
      at: new Date().toISOString(),
    });
    await this.publishIndex(
      {
        target: this.targetName,
        versions: [],
        filesUploaded: 0,
        bytesUploaded: 0,
        filesSkipped: 0,
        signed: false,
      },
      options,
    );
    return record;
  }

  private get targetName(): string {
    return `github:${this.options.owner}/${this.options.repo}`;
  }

  /** Uploads yanked.json to a published release unless it has one; returns the record in force. */
  private async addYankRecord(name: string, version: string, record: YankRecord): Promise<YankRecord> {
    const tag = releaseTag(name, version);
    const release = await this.findPublishedRelease(tag);
    if (!release)
      throw new EdgezooError('VERSION_NOT_FOUND', `${name}@${version} is not published on ${this.targetName}`, {
        hint: 'only a published version can be yanked',
      });
    const existing = (await this.listAssets(release.id)).find((a) => a.name === YANK_FILE && a.state === 'uploaded');
    if (existing) return yankSchema.parse(JSON.parse((await this.downloadAsset(existing)).toString('utf8')));
    const bytes = Buffer.from(stableJson(record), 'utf8');
    await this.uploadAsset(
      release,
      { name: YANK_FILE, size: bytes.length, sha256: sha256Hex(bytes), read: async () => bytes },
      tag,
    );
    return record;
  }

  /**
   * Rebuilds index.json from the published releases (the releases are the truth, as the folders
   * are for a directory target: versions published from other zoos stay listed), signs it, and
   * puts it with its signature and the pull clients on the rolling `edgezoo-index` release.
   */
  private async publishIndex(report: PublishReport, options: PublishOptions): Promise<void> {
    const models = await this.indexModelsFromReleases();
    const index = zooIndexOf(models);
    const bytes = Buffer.from(stableJson(index), 'utf8');
    const indexUrl = githubIndexUrl(this.options.owner, this.options.repo, this.options.webUrl ?? DEFAULT_GITHUB_URL);
    const files: Array<{ name: string; bytes: Buffer | undefined }> = [
      { name: INDEX_FILE, bytes },
      // Without a key a stale signature is removed: it would no longer match.
      {
        name: INDEX_SIGNATURE_FILE,
        bytes: options.signingKey ? Buffer.from(signBytes(bytes, options.signingKey)) : undefined,
      },
      ...(await renderPullClients({
        indexUrl: indexUrl.href,
        ...(options.signingKey ? { signingKey: options.signingKey } : {}),
      })),
    ];
    const release = await this.indexRelease();
    for (const file of files) {
      options.signal?.throwIfAborted();
      const changed = await this.replaceAsset(release, file.name, file.bytes);
      if (changed && file.bytes) {
        report.filesUploaded += 1;
        report.bytesUploaded += file.bytes.length;
      } else if (file.bytes) report.filesSkipped += 1;
    }
    report.signed = options.signingKey !== undefined;
    report.indexUrl = indexUrl.href;
  }

  /** The index entries of every published `<model>@<version>` release. */
  private async indexModelsFromReleases(): Promise<IndexModel[]> {
    let releases: ReleaseData[];
    try {
      releases = (await this.octokit.paginate('GET /repos/{owner}/{repo}/releases', {
        ...this.repoParams,
        per_page: 100,
      })) as ReleaseData[];
    } catch (error) {
      throw this.wrap(error, 'GET releases');
    }
    const byModel = new Map<string, Array<{ manifest: Manifest; version: IndexVersion }>>();
    for (const release of releases) {
      const match = /^([a-z0-9]+(?:-[a-z0-9]+)*)@(.+)$/.exec(release.tag_name);
      if (release.draft || !match || semver.valid(match[2]!) === null) continue;
      const tag = release.tag_name;
      const assets = (await this.listAssets(release.id)).filter((a) => a.state === 'uploaded');
      const asset = (name: string) => assets.find((a) => a.name === name);
      const manifestAsset = asset(MANIFEST_FILE);
      const cardAsset = asset(CARD_FILE);
      if (!manifestAsset || !cardAsset) {
        this.note(`release ${tag} has no ${manifestAsset ? CARD_FILE : MANIFEST_FILE}; it is left out of the index`);
        continue;
      }
      const manifestBytes = await this.downloadAsset(manifestAsset);
      const manifest = parseManifest(manifestBytes.toString('utf8'), `${MANIFEST_FILE} of release ${tag}`);
      if (manifest.name !== match[1] || manifest.version !== match[2])
        throw new EdgezooError(
          'ZOO_INVALID',
          `the manifest of release ${tag} describes ${manifest.name}@${manifest.version}`,
          { hint: 'the release was changed by hand; fix or delete it on GitHub' },
        );
      // Every file the manifest names must be on the release with its size; digests, when GitHub reports them, must match.
      for (const file of [
        ...manifest.artifacts.flatMap((a) => a.files),
        ...(manifest.licenseFile ? [manifest.licenseFile] : []),
      ]) {
        const there = asset(file.name);
        const digest = there?.digest?.startsWith('sha256:') ? there.digest.slice(7) : undefined;
        if (!there || there.size !== file.size || (digest !== undefined && digest !== file.sha256))
          throw new EdgezooError(
            'ZOO_INCOMPLETE',
            `release ${tag} ${there ? `has a different ${file.name}` : `lacks ${file.name}`}, which its manifest lists`,
            { hint: 'the release was changed by hand; restore the asset or delete the release' },
          );
      }
      const cardDigest = cardAsset.digest?.startsWith('sha256:') ? cardAsset.digest.slice(7) : undefined;
      const card = cardDigest ?? sha256Hex(await this.downloadAsset(cardAsset));
      const yankAsset = asset(YANK_FILE);
      const yank = yankAsset
        ? yankSchema.parse(JSON.parse((await this.downloadAsset(yankAsset)).toString('utf8')))
        : undefined;
      const version = indexVersionOf(manifest, {
        manifestSha256: sha256Hex(manifestBytes),
        card: { sha256: card, size: cardAsset.size },
        yank,
        urlOf: (file) => relativeReleaseUrl(tag, file),
      });
      byModel.set(manifest.name, [...(byModel.get(manifest.name) ?? []), { manifest, version }]);
    }
    return [...byModel].map(([name, entries]) => {
      const sorted = [...entries].sort((a, b) => semver.rcompare(a.manifest.version, b.manifest.version));
      return indexModelOf(
        name,
        sorted[0]!.manifest,
        sorted.map((e) => e.version),
      );
    });
  }

  /** The rolling `edgezoo-index` release: a published prerelease, never marked latest. */
  private async indexRelease(): Promise<ReleaseData> {
    const existing = await this.findPublishedRelease(INDEX_RELEASE_TAG);
    if (existing) return existing;
    const draft = await this.findDraftRelease(INDEX_RELEASE_TAG);
    if (draft)
      return this.request<ReleaseData>('PATCH /repos/{owner}/{repo}/releases/{release_id}', {
        ...this.repoParams,
        release_id: draft.id,
        draft: false,
        tag_name: INDEX_RELEASE_TAG,
      });
    return this.request<ReleaseData>('POST /repos/{owner}/{repo}/releases', {
      ...this.repoParams,
      tag_name: INDEX_RELEASE_TAG,
      name: 'edgezoo index',
      body: `The zoo's index.json, its signature index.json.sig and the pull clients (pull.mjs, pull.py), replaced by every \`edgezoo publish\`. Each model version is a release of its own, tagged <model>@<version>.`,
      draft: false,
      prerelease: true,
      make_latest: 'false',
    });
  }

  /**
   * Puts `bytes` on the release under `name`, or removes the asset when `bytes` is undefined.
   * Same bytes are left alone. New bytes go up under a temporary name first and are renamed
   * once the old asset is deleted, so readers see the old file or the new one, missing only
   * between the delete and the rename. Returns whether anything changed.
   */
  private async replaceAsset(release: ReleaseData, name: string, bytes: Buffer | undefined): Promise<boolean> {
    const assets = await this.listAssets(release.id);
    const current = assets.find((a) => a.name === name);
    if (bytes === undefined) {
      if (!current) return false;
      await this.request('DELETE /repos/{owner}/{repo}/releases/assets/{asset_id}', {
        ...this.repoParams,
        asset_id: current.id,
      });
      return true;
    }
    const sha256 = sha256Hex(bytes);
    if (current?.state === 'uploaded' && current.size === bytes.length) {
      const digest = current.digest?.startsWith('sha256:') ? current.digest.slice(7) : undefined;
      const same = digest !== undefined ? digest === sha256 : (await this.downloadAsset(current)).equals(bytes);
      if (same) return false;
    }
    const temporary = `${name}.next`;
    const leftover = assets.find((a) => a.name === temporary);
    if (leftover)
      await this.request('DELETE /repos/{owner}/{repo}/releases/assets/{asset_id}', {
        ...this.repoParams,
        asset_id: leftover.id,
      });
    await this.uploadAsset(
      release,
      { name: temporary, size: bytes.length, sha256, read: async () => bytes },
      INDEX_RELEASE_TAG,
    );
    const uploaded = (await this.listAssets(release.id)).find((a) => a.name === temporary && a.state === 'uploaded');
    if (!uploaded)
      throw new EdgezooError(
        'RELEASE_INCOMPLETE',
        `${temporary} is not on the ${INDEX_RELEASE_TAG} release after uploading`,
        {
          hint: 'run publish again',
        },
      );
    if (current)
      await this.request('DELETE /repos/{owner}/{repo}/releases/assets/{asset_id}', {
        ...this.repoParams,
        asset_id: current.id,
      });
    await this.request('PATCH /repos/{owner}/{repo}/releases/assets/{asset_id}', {
      ...this.repoParams,
      asset_id: uploaded.id,
      name,
    });
    return true;
  }

  private get repoParams() {
    return { owner: this.options.owner, repo: this.options.repo };
  }

  private async publishVersion(
    name: string,
    version: string,
    assets: LocalAsset[],
    report: PublishReport,
    options: PublishOptions,
  ): Promise<PublishedVersion['state']> {
    const tag = releaseTag(name, version);
    const published = await this.findPublishedRelease(tag);
    if (published) {
      await this.assertReleaseMatches(published, assets, tag);
      report.filesSkipped += assets.length;
      return 'unchanged';
    }
    let release = await this.findDraftRelease(tag);
    const state: PublishedVersion['state'] = release ? 'completed' : 'new';
    release ??= await this.request<ReleaseData>('POST /repos/{owner}/{repo}/releases', {
      ...this.repoParams,
      tag_name: tag,
      name: tag,
      body: `${name} ${version}, published by edgezoo. See ${CARD_FILE} for the model card; ${SUMS_ASSET} lists the sha256 of every asset.`,
      draft: true,
    });

    let remote = await this.listAssets(release.id);
    await this.assertSumsCompatible(remote, assets, tag);
    for (const asset of assets) {
      options.signal?.throwIfAborted();
      const existing = remote.find((a) => a.name === asset.name);
      if (existing && existing.state === 'uploaded') {
        this.assertAssetMatches(existing, asset, tag);
        report.filesSkipped += 1;
        options.onEvent?.({ kind: 'file', name, version, file: asset.name, state: 'skipped', bytes: 0 });
        continue;
      }
      const replaced = existing !== undefined;
      if (existing)
        await this.request('DELETE /repos/{owner}/{repo}/releases/assets/{asset_id}', {
          ...this.repoParams,
          asset_id: existing.id,
        });
      await this.uploadAsset(release, asset, tag);
      report.filesUploaded += 1;
      report.bytesUploaded += asset.size;
      options.onEvent?.({
        kind: 'file',
        name,
        version,
        file: asset.name,
        state: replaced ? 'replaced-partial' : 'uploaded',
        bytes: asset.size,
      });
    }

    // Publish only what we can see complete: every asset uploaded with its size and digest.
    remote = await this.listAssets(release.id);
    const expected = new Set(assets.map((a) => a.name));
    for (const asset of assets) {
      const there = remote.find((a) => a.name === asset.name && a.state === 'uploaded');
      if (!there)
        throw new EdgezooError(
          'RELEASE_INCOMPLETE',
          `draft release ${tag} lacks ${asset.name} after uploading; it stays a draft`,
          { hint: 'run publish again to complete it' },
        );
      this.assertAssetMatches(there, asset, tag);
    }
    const extra = remote.filter((a) => !expected.has(a.name));
    if (extra.length > 0) {
      throw new EdgezooError(
        'RELEASE_UNEXPECTED_ASSETS',
        `draft release ${tag} has assets the zoo does not: ${extra.map((a) => a.name).join(', ')}; it stays a draft`,
        {
          hint: 'delete them from the draft on GitHub, then publish again',
        },
      );
    }
    await this.request('PATCH /repos/{owner}/{repo}/releases/{release_id}', {
      ...this.repoParams,
      release_id: release.id,
      draft: false,
      tag_name: tag,
    });
    return state;
  }

  private async request<T>(route: string, params: Record<string, unknown>): Promise<T> {
    try {
      const response = await this.octokit.request(route, params);
      return response.data as T;
    } catch (error) {
      throw this.wrap(error, route);
    }
  }

  private wrap(error: unknown, what: string): EdgezooError {
    if (error instanceof EdgezooError) return error;
    const status = (error as { status?: number }).status;
    const message = (error as Error).message ?? String(error);
    if (status === 401)
      return new EdgezooError('GITHUB_AUTH', `GitHub refused the token (${what}): ${message}`, {
        hint: 'set GITHUB_TOKEN to a token with contents:write on the repository',
      });
    if (status === 403 || status === 429)
      return new EdgezooError('GITHUB_RATE_LIMIT', `GitHub kept refusing ${what} (HTTP ${status}): ${message}`, {
        hint: 'wait for the rate limit to reset, then run publish again; it resumes where it stopped',
      });
    if (status === 404)
      return new EdgezooError('GITHUB_NOT_FOUND', `GitHub answered 404 for ${what}: ${message}`, {
        hint: `check that ${this.options.owner}/${this.options.repo} exists and the token can write to it`,
      });
    return new EdgezooError('GITHUB_REQUEST_FAILED', `${what} failed${status ? ` (HTTP ${status})` : ''}: ${message}`, {
      hint: 'run publish again; it resumes where it stopped',
      cause: error,
    });
  }

  /** Published releases are found by tag; GitHub does not return drafts there. */
  private async findPublishedRelease(tag: string): Promise<ReleaseData | undefined> {
    try {
      const response = await this.octokit.request('GET /repos/{owner}/{repo}/releases/tags/{tag}', {
        ...this.repoParams,
        tag,
      });
      const release = response.data as ReleaseData;
      return release.draft ? undefined : release;
    } catch (error) {
      if ((error as { status?: number }).status === 404) return undefined;
      throw this.wrap(error, `GET release ${tag}`);
    }
  }

  /** Drafts have no tag yet, so they are found in the release list (which includes drafts for writers). */
  private async findDraftRelease(tag: string): Promise<ReleaseData | undefined> {
    try {
      const releases = (await this.octokit.paginate('GET /repos/{owner}/{repo}/releases', {
        ...this.repoParams,
        per_page: 100,
      })) as ReleaseData[];
      return releases.find((r) => r.draft && r.tag_name === tag);
    } catch (error) {
      throw this.wrap(error, 'GET releases');
    }
  }

  private async listAssets(releaseId: number): Promise<AssetData[]> {
    try {
      return (await this.octokit.paginate('GET /repos/{owner}/{repo}/releases/{release_id}/assets', {
        ...this.repoParams,
        release_id: releaseId,
        per_page: 100,
      })) as AssetData[];
    } catch (error) {
      throw this.wrap(error, 'GET release assets');
    }
  }

  private async downloadAsset(asset: AssetData): Promise<Buffer> {
    const data = await this.request<ArrayBuffer>('GET /repos/{owner}/{repo}/releases/assets/{asset_id}', {
      ...this.repoParams,
      asset_id: asset.id,
      headers: { accept: 'application/octet-stream' },
    });
    return Buffer.from(data);
  }

  /**
   * SHA256SUMS is uploaded first: once it is on a release, it records which bytes that release
   * is for. A different one means another zoo's bytes under this version.
   */
  private async assertSumsCompatible(remote: AssetData[], assets: LocalAsset[], tag: string): Promise<void> {
    const sums = remote.find((a) => a.name === SUMS_ASSET && a.state === 'uploaded');
    const local = assets.find((a) => a.name === SUMS_ASSET)!;
    if (!sums) {
      const unverifiable = remote.filter((a) => a.state === 'uploaded' && !a.digest && a.name !== SUMS_ASSET);
      if (unverifiable.length > 0) {
        throw new EdgezooError(
          'RELEASE_UNVERIFIABLE',
          `draft release ${tag} holds ${unverifiable.map((a) => a.name).join(', ')} without ${SUMS_ASSET} or digests, so their bytes cannot be checked`,
          {
            hint: 'delete the draft release on GitHub, then publish again',
          },
        );
      }
      return;
    }
    const remoteText = (await this.downloadAsset(sums)).toString('utf8');
    const localText = (await local.read()).toString('utf8');
    if (remoteText !== localText) {
      const remoteSums = parseSums(remoteText);
      const localSums = parseSums(localText);
      const differing = [...localSums].find(([file, sha]) => remoteSums.get(file) !== sha);
      const detail = differing
        ? `${differing[0]}: release has sha256 ${remoteSums.get(differing[0]) ?? '(none)'}, the zoo has sha256 ${differing[1]}`
        : 'the file lists differ';
      throw new EdgezooError('RELEASE_IMMUTABLE', `release ${tag} was started with other bytes (${detail})`, {
        hint: 'a published version never changes: bump the version and build again',
      });
    }
  }

  private assertAssetMatches(remote: AssetData, local: LocalAsset, tag: string): void {
    const digest = remote.digest?.startsWith('sha256:') ? remote.digest.slice(7) : undefined;
    if (remote.size !== local.size || (digest !== undefined && digest !== local.sha256)) {
      const remoteSha = digest ?? '(not reported)';
      throw new EdgezooError(
        'RELEASE_IMMUTABLE',
        `asset ${local.name} of release ${tag} differs: release has ${remote.size} bytes, sha256 ${remoteSha}; the zoo has ${local.size} bytes, sha256 ${local.sha256}`,
        {
          hint: 'a published version never changes: bump the version and build again',
        },
      );
    }
  }

  private async assertReleaseMatches(release: ReleaseData, assets: LocalAsset[], tag: string): Promise<void> {
    const remote = await this.listAssets(release.id);
    await this.assertSumsCompatible(remote, assets, tag);
    for (const asset of assets) {
      const there = remote.find((a) => a.name === asset.name && a.state === 'uploaded');
      if (!there) {
        throw new EdgezooError('RELEASE_IMMUTABLE', `release ${tag} is already published without ${asset.name}`, {
          hint: 'a published version never changes: bump the version and build again',
        });
      }
      this.assertAssetMatches(there, asset, tag);
    }
  }

  /** The token goes with the upload: only to an origin of the API (see `uploadOrigins`), over https unless on loopback. */
  private checkUploadUrl(uploadUrl: string, tag: string): void {
    let origin: string | undefined;
    try {
      origin = new URL(uploadUrl.replace(/\{[^}]*\}/g, '')).origin;
    } catch {
      // refused below
    }
    if (origin === undefined || !this.allowedUploadOrigins.has(origin))
      throw new EdgezooError(
        'GITHUB_UPLOAD_URL_REFUSED',
        `the API gave release ${tag} the upload URL ${origin ?? uploadUrl}, which is not an origin of the API (${[...this.allowedUploadOrigins].join(', ')}); the token is not sent there`,
        { hint: 'check --github-api: it must be the API of the repository host' },
      );
  }

  /**
   * Uploads one asset. A failed upload can leave a `starter` asset (GitHub keeps the name), and a
   * retried upload whose first try did arrive answers 422 already_exists; both are settled by
   * looking at the asset list: a complete matching asset is success, a `starter` is deleted and
   * uploaded again.
   */
  private async uploadAsset(release: ReleaseData, asset: LocalAsset, tag: string): Promise<void> {
    this.checkUploadUrl(release.upload_url, tag);
    const data = await asset.read();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.octokit.request({
          method: 'POST',
          url: release.upload_url,
          name: asset.name,
          data,
          headers: { 'content-type': 'application/octet-stream', 'content-length': asset.size },
        });
        return;
      } catch (error) {
        const remote = (await this.listAssets(release.id)).find((a) => a.name === asset.name);
        if (remote?.state === 'uploaded' && remote.size === asset.size) {
          this.assertAssetMatches(remote, asset, tag);
          return;
        }
        if (attempt >= 3) throw this.wrap(error, `upload of ${asset.name} to ${tag}`);
        if (remote)
          await this.request('DELETE /repos/{owner}/{repo}/releases/assets/{asset_id}', {
            ...this.repoParams,
            asset_id: remote.id,
          });
      }
    }
  }
}

function parseSums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line.trim());
    if (match) sums.set(match[2]!, match[1]!);
  }
  return sums;
}

/** The assets of a version, SHA256SUMS first (it declares the bytes), manifest last. */
async function localAssets(dir: string, version: IndexVersion): Promise<LocalAsset[]> {
  const files: Array<{ name: string; sha256?: string }> = [
    ...version.artifacts.flatMap((a) => a.files.map((f) => ({ name: f.name, sha256: f.sha256 }))),
    ...(version.licenseFile
      ? [{ name: path.posix.basename(version.licenseFile.url), sha256: version.licenseFile.sha256 }]
      : []),
    { name: CARD_FILE },
    { name: MANIFEST_FILE },
  ];
  const assets: LocalAsset[] = [];
  for (const file of files) {
    const full = path.join(dir, file.name);
    const size = (await stat(full)).size;
    // Card and manifest are small; the artifacts' sha256 come from the manifest (checked by the zoo layer).
    const sha256 = file.sha256 ?? sha256Hex(await readFile(full));
    assets.push({ name: file.name, size, sha256, read: () => readFile(full) });
  }
  const sumsText = assets.map((a) => `${a.sha256}  ${a.name}\n`).join('');
  const sumsBytes = Buffer.from(sumsText, 'utf8');
  return [
    { name: SUMS_ASSET, size: sumsBytes.length, sha256: sha256Hex(sumsBytes), read: async () => sumsBytes },
    ...assets,
  ];
}
