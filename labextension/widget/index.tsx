/**
 * The notebook widget (anywidget's ES module): one CanvasStore over the widget's comm, drawing
 * the canvas's own React views. Built with React into one file by `jlpm build:widget`.
 */
import * as React from 'react';
import { createRoot } from 'react-dom/client';

import { Channel, commTransport } from '../canvas/commTransport';
import { CanvasStore } from '../canvas/store';
import { WidgetView } from './WidgetView';
import '../../style/index.css';
import '../../style/canvas.css';
import '../../style/cards.css';
import '../../style/experiment.css';
import '../../style/widget.css';

/** The part of anywidget's model the widget uses. */
interface AnyModel {
  get(name: string): unknown;
  send(content: Record<string, unknown>, callbacks?: unknown, buffers?: ArrayBuffer[]): void;
  on(event: string, fn: (content: Record<string, unknown>, buffers: (DataView | ArrayBuffer)[]) => void): void;
  off(event: string, fn: (content: Record<string, unknown>, buffers: (DataView | ArrayBuffer)[]) => void): void;
}

function channelOf(model: AnyModel): Channel {
  return {
    send: content => model.send(content),
    listen: fn => {
      const handler = (content: Record<string, unknown>, buffers: (DataView | ArrayBuffer)[]): void =>
        fn(
          content,
          (buffers ?? []).map(b => (b instanceof DataView ? (b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer) : b))
        );
      model.on('msg:custom', handler);
      return () => model.off('msg:custom', handler);
    }
  };
}

function render({ model, el }: { model: AnyModel; el: HTMLElement }): () => void {
  const store = new CanvasStore(commTransport(channelOf(model)));
  store.start();
  const root = createRoot(el);
  root.render(<WidgetView store={store} view={String(model.get('view'))} node={String(model.get('node') ?? '')} card={String(model.get('card') ?? '')} />);
  return () => {
    root.unmount();
    store.dispose();
  };
}

export default { render };
