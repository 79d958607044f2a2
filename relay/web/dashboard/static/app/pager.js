// Paged lists ({data, next_cursor} from the API) behind a "Load more" button.

import { h } from "./dom.js";

const PAGE = 25;

// A paged list: "Load more" appends the next page; a reload keeps as many items as are shown.
// Fetches run one after another, so a reload and a "Load more" never overwrite each other.
// keyOf names an item's cursor (a group's is its JID; most lists page by id).
export function pager(context, load, draw, keyOf = (item) => item.id) {
  let cursor = null;
  let items = [];
  let queue = Promise.resolve();
  const more = h("button", { type: "button", hidden: true }, "Load more");
  // Asks for one more than it shows: the extra one says whether a next page exists (a full page's own
  // cursor cannot), and the next page starts after the last one shown.
  const fetchPage = async (reset) => {
    const wanted = reset ? Math.max(PAGE, items.length) : PAGE;
    const page = await load(reset ? null : cursor, wanted + 1);
    const shown = page.data.slice(0, wanted);
    items = reset ? shown : [...items, ...shown];
    cursor = page.data.length > wanted ? keyOf(shown[shown.length - 1]) : null;
    more.hidden = !cursor;
    draw(items);
  };
  const run = (control, reset) => {
    queue = queue.then(() => context.act(control, () => fetchPage(reset)));
    return queue;
  };
  more.addEventListener("click", () => run(more, false));
  return {
    more,
    reload: () => run(null, true),
    // A live item belongs at the end only once every older page is shown. It waits for a fetch under
    // way, which may already hold it (then it is not added twice) or may not (then it would be lost).
    add: (item) => {
      queue = queue.then(() => {
        if (!cursor && !items.some((shown) => keyOf(shown) === keyOf(item))) draw((items = [...items, item]));
      });
    },
    // A live change to items already shown (a media now stored): redrawn in place, nothing fetched.
    change: (update) => {
      queue = queue.then(() => draw((items = items.map(update))));
    },
  };
}
