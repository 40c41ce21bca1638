/**
 * The canvas's transport: the Jupyter server's proxy to the kernel's app, until the server says
 * it cannot reach that app (`unreachable`: a kernel on another host, behind a gateway); from
 * then on the kernel's own comm channel, with the same protocol messages. A request that was
 * already on its way through the proxy when another one switched is sent again over the comm.
 */
import { HttpError, SocketLike, Transport } from './transport';

export function reachingTransport(proxy: Transport, comm: () => Transport): Transport {
  let current = proxy;
  const retried = async <T>(call: (t: Transport) => Promise<T>): Promise<T> => {
    const used = current;
    try {
      return await call(used);
    } catch (error) {
      if (used !== proxy || !(error instanceof HttpError) || error.code !== 'unreachable') {
        throw error;
      }
      if (current === proxy) {
        current = comm();
      }
      return call(current);
    }
  };
  return {
    getJSON: path => retried(t => t.getJSON(path)),
    getText: path => retried(t => t.getText(path)),
    deleteJSON: path => retried(t => t.deleteJSON(path)),
    connect: (): SocketLike => current.connect(),
    get docsUrl() {
      return current === proxy ? proxy.docsUrl : undefined;
    }
  };
}
