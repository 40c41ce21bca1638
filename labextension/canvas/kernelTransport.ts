/**
 * The real Transport: one kernel's app through the Jupyter server extension's authenticated
 * proxy (ServerConnection: cookie + XSRF; the websocket carries ?token= when the page has one).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { HttpError, SocketLike, Transport, errorCode, errorMessage } from './transport';

export function kernelTransport(
  kernelId: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Transport {
  const root = URLExt.join('transpector', 'kernels', encodeURIComponent(kernelId));

  const get = async (path: string, method = 'GET'): Promise<Response> => {
    const url = URLExt.join(settings.baseUrl, root, 'api', path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, { method }, settings);
    } catch (error) {
      throw new HttpError(0, error instanceof Error ? error.message : String(error));
    }
    if (!response.ok) {
      const text = await response.text();
      throw new HttpError(response.status, errorMessage(text, response.status, response.statusText), errorCode(text));
    }
    return response;
  };

  return {
    docsUrl: URLExt.join(settings.baseUrl, root, 'api', 'docs'),
    getJSON: async path => (await get(path)).json(),
    getText: async path => (await get(path)).text(),
    deleteJSON: async path => (await get(path, 'DELETE')).json(),
    connect: () => {
      let url = URLExt.join(settings.wsUrl, root, 'ws');
      if (settings.token) {
        url += `?token=${encodeURIComponent(settings.token)}`;
      }
      return adapt(new settings.WebSocket(url));
    }
  };
}

function adapt(ws: WebSocket): SocketLike {
  ws.binaryType = 'arraybuffer';
  const socket: SocketLike = {
    onopen: null,
    onmessage: null,
    onclose: null,
    send: data => ws.send(data),
    close: (code, reason) => ws.close(code, reason)
  };
  ws.onopen = () => socket.onopen?.();
  ws.onmessage = event => socket.onmessage?.(event.data as string | ArrayBuffer);
  ws.onclose = event => socket.onclose?.(event.code, event.reason);
  return socket;
}
