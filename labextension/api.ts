/**
 * Requests to the Transpector server extension, always through JupyterLab's authenticated
 * ServerConnection (cookie + XSRF), never to the kernel directly.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** One running kernel, as the server extension lists it. */
export interface KernelInfo {
  id: string;
  name: string;
  execution_state: string;
}

/** The body of GET /transpector/info. */
export interface ServerInfo {
  version: string;
  kernels: KernelInfo[];
}

/**
 * One entry of GET /transpector/sessions: a running kernel and whether it has a live
 * Transpector session (a plain dict of the server extension, not part of the kernel protocol).
 */
export interface SessionInfo {
  kernel_id: string;
  name: string;
  execution_state: string;
  attached: boolean;
  protocol_version: number | null;
}

/** GET a JSON document under /transpector/, raising with the server's own message. */
export async function requestJSON<T>(
  path: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'transpector', path);
  const response = await ServerConnection.makeRequest(url, {}, settings);
  const text = await response.text();
  const body: unknown = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const message =
      body && typeof body === 'object' && 'message' in body
        ? String((body as { message: unknown }).message)
        : response.statusText;
    throw new ServerConnection.ResponseError(response, message);
  }
  return body as T;
}
