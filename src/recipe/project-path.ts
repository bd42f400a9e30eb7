/**
 * Paths in recipes are repository-relative POSIX paths that must stay inside the project. The
 * checks here are pure (text only); whether a symlink on the way leaves the project needs the
 * file system and lives in fs-rules.ts.
 */

/** Returns why `value` is not a safe project-relative path, or undefined when it is one. */
export function checkProjectPath(value: string): string | undefined {
  if (value.length === 0) return 'expected a path relative to the project root';
  if (value.includes('\0')) return 'a path cannot contain a NUL character';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value))
    return 'a URL is not a path (use `url:` for downloads); expected a path relative to the project root';
  // Backslashes are refused outright: on Windows they are separators, so `..\\x` would escape.
  if (value.includes('\\')) return 'paths use forward slashes; a backslash is not allowed';
  if (value.startsWith('/') || /^[A-Za-z]:/.test(value))
    return 'an absolute path is not allowed; expected a path relative to the project root';
  if (value.startsWith('~')) return '"~" is not expanded; expected a path relative to the project root';
  if (value.split('/').includes('..')) return 'the path leaves the project: ".." segments are not allowed';
  return undefined;
}

/** `./models/x//a.onnx` -> `models/x/a.onnx`: the form stored in a normalised Recipe. */
export function normaliseProjectPath(value: string): string {
  return value
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.')
    .join('/');
}
