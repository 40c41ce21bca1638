/**
 * A Channel over a JupyterLab kernel connection: a comm to the kernel's `transpector` target
 * (registered by `transpector.attach`), opened on first use and again after the kernel closed it
 * (a kernel without a session closes it at once; the transport then answers "no session").
 * Messages wait for the open to be handled, and keep their order.
 */
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import type { JSONObject } from '@lumino/coreutils';

import type { Channel } from './commTransport';

export const COMM_TARGET = 'transpector';

type Listener = (content: Record<string, unknown>, buffers: ArrayBuffer[]) => void;

function toArrayBuffer(b: ArrayBuffer | ArrayBufferView): ArrayBuffer {
  return b instanceof ArrayBuffer ? b : (b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
}

export function kernelChannel(kernel: () => Kernel.IKernelConnection | null): Channel {
  let comm: Kernel.IComm | null = null;
  let ready: Promise<unknown> = Promise.resolve(); // the open, done: the kernel has the comm
  let listener: Listener | null = null;
  const open = (): Kernel.IComm | null => {
    if (comm && !comm.isDisposed) {
      return comm;
    }
    const connection = kernel();
    if (!connection) {
      listener?.({ kind: 'closed', message: 'the notebook has no kernel' }, []);
      return null;
    }
    const opened = connection.createComm(COMM_TARGET);
    opened.onMsg = (msg: KernelMessage.ICommMsgMsg) =>
      listener?.(msg.content.data as Record<string, unknown>, (msg.buffers ?? []).map(toArrayBuffer));
    opened.onClose = () => {
      if (comm === opened) {
        comm = null;
      }
      listener?.({ kind: 'closed' }, []);
    };
    // A message sent before the kernel has handled the open would find no comm there.
    ready = opened.open({}).done.catch(() => undefined);
    comm = opened;
    return opened;
  };
  return {
    send: content => {
      const target = open();
      if (target) {
        void ready.then(() => !target.isDisposed && target.send(content as JSONObject));
      }
    },
    listen: fn => {
      listener = fn;
      return () => {
        listener = null;
      };
    }
  };
}
