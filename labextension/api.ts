/**
 * Requests to the Transpector server extension, always through JupyterLab's authenticated
 * ServerConnection (cookie + XSRF), never to the kernel directly.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export type { KernelInfo, KernelSession as SessionInfo, ServerInfo } from './protocol.generated';

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
