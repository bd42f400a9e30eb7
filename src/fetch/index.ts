/**
 * Fetching sources safely: recipe files from the project, https downloads into a shared
 * content-addressed cache (resume, retries, redirects without leaking credentials, size cap), and
 * files inside pinned pypi/npm packages. Every byte is verified against its sha256 before use.
 */
export {
  fetchFile,
  cachedFilePath,
  describeFileLocation,
  type FetchFileOptions,
  type FetchedFile,
} from './fetch-file.js';
export { downloadToFile, type DownloadOptions, type DownloadResult, type DownloadProgress } from './download.js';
export { DEFAULT_RETRY_TIMING, type RetryTiming } from './http-rules.js';
export {
  checkFetchableUrl,
  isLoopbackHost,
  isSensitiveHeader,
  planRedirect,
  redactUrl,
  type RedirectHop,
} from './url-policy.js';
export { describePackageLocation, type PackageFileLocation } from './package.js';
export {
  FetchError,
  Sha256MismatchError,
  InvalidSha256Error,
  HttpStatusError,
  FetchTimeoutError,
  TooLargeError,
  InsecureUrlError,
  UnsupportedUrlError,
  RedirectDowngradeError,
  TooManyRedirectsError,
  TruncatedDownloadError,
  NetworkError,
  PathOutsideProjectError,
  SourceFileNotFoundError,
  PackageFileNotFoundError,
  PackageDownloadError,
  ArchiveError,
} from './errors.js';
