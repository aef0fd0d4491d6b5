import { useCallback, useEffect, useImperativeHandle, useLayoutEffect, useRef, useState, type ReactNode, type Ref } from "react";
import { atBottom, visibleWindow } from "../logbuffer";

export interface VirtualListHandle {
  scrollToIndex(index: number): void;
  scrollToBottom(): void;
}

/** A list that renders only the rows in view: fixed row height, any number of rows.
 * While the view is at the bottom it stays there as rows are added (a live tail). */
export function VirtualList<T>(props: {
  items: readonly T[];
  rowHeight: number;
  height: number;
  render: (item: T, index: number) => ReactNode;
  label: string;
  handle?: Ref<VirtualListHandle>;
  onFollowChange?: (following: boolean) => void;
}) {
  const { items, rowHeight, height, render, label, handle, onFollowChange } = props;
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(height);
  const following = useRef(true);

  const scrollTo = useCallback((top: number) => {
    const el = box.current;
    if (!el) return;
    el.scrollTop = top;
    setScrollTop(el.scrollTop);
  }, []);

  useImperativeHandle(
    handle,
    () => ({
      scrollToIndex(index: number) {
        following.current = false;
        onFollowChange?.(false);
        scrollTo(Math.max(0, index * rowHeight));
      },
      scrollToBottom() {
        following.current = true;
        onFollowChange?.(true);
        scrollTo(items.length * rowHeight);
      },
    }),
    [items.length, rowHeight, scrollTo, onFollowChange],
  );

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setViewport(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useLayoutEffect(() => {
    if (following.current) scrollTo(items.length * rowHeight);
  }, [items, items.length, rowHeight, scrollTo]);

  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    setScrollTop(el.scrollTop);
    const bottom = atBottom(el.scrollTop, el.clientHeight, items.length * rowHeight, rowHeight);
    if (bottom !== following.current) {
      following.current = bottom;
      onFollowChange?.(bottom);
    }
  };

  const w = visibleWindow(scrollTop, viewport, rowHeight, items.length);
  const rows: ReactNode[] = [];
  for (let i = w.start; i < w.end; i++) {
    rows.push(
      <div key={i} className="vrow" role="listitem" aria-posinset={i + 1} aria-setsize={items.length} style={{ height: rowHeight, top: i * rowHeight }}>
        {render(items[i], i)}
      </div>,
    );
  }
  return (
    <div ref={box} className="vlist" style={{ height }} onScroll={onScroll} tabIndex={0} role="list" aria-label={label} data-count={items.length}>
      <div className="vspacer" style={{ height: w.total }}>
        {rows}
      </div>
    </div>
  );
}
