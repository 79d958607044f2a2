// A received message's media (SPEC "Inbound media"): its type, name, size and status, a
// thumbnail for a stored image and a download link for every stored file. GET /v1/media/{id}
// needs the Authorization header, which an <img src> or <a href> cannot send: the bytes are
// fetched with the signed-in token and shown through a blob: URL (the CSP allows img-src blob:).

import { badge, h } from "./dom.js";

const UNITS = ["bytes", "KB", "MB", "GB"];

export function sizeText(bytes) {
  if (bytes === null || bytes === undefined) return "size unknown";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit ? `${value.toFixed(1)} ${UNITS[unit]}` : `${value} bytes`;
}

// One per screen: each file is fetched once however often a list redraws, every block drawn for a
// media is redrawn when its status changes (message.media), and the blob: URLs are let go on leaving.
export function mediaViewer(context) {
  const blobs = new Map(); // media id -> Promise of a blob: URL
  const blocks = new Map(); // media id -> Set of the elements drawn for it

  context.onLeave(async () => {
    const urls = await Promise.allSettled(blobs.values());
    for (const url of urls) if (url.status === "fulfilled") URL.revokeObjectURL(url.value);
    blobs.clear();
  });

  const bytesOf = (media) => {
    if (!blobs.has(media.id)) {
      const loading = context.api.blob(media.url).then((blob) => URL.createObjectURL(blob));
      // A refusal (410 expired, 503 store down) is shown, and the next draw may try again.
      loading.catch(() => blobs.delete(media.id));
      blobs.set(media.id, loading);
    }
    return blobs.get(media.id);
  };

  const thumbnail = (media) => {
    const image = h("img", { class: "thumbnail", alt: `Image ${media.filename || media.id}`, hidden: true });
    bytesOf(media).then(
      (url) => {
        image.src = url;
        image.hidden = false;
      },
      (error) => context.report(error),
    );
    return image;
  };

  // The link holds a blob: URL once the bytes are here; a click before that fetches them first.
  const downloadLink = (media) => {
    const name = media.filename || media.id;
    const link = h("a", { class: "download", download: name, href: "#", dataset: { mediaId: media.id } }, "Download");
    link.setAttribute("aria-label", `Download ${name}`);
    const settle = (url) => {
      link.href = url;
      link.dataset.ready = "true";
    };
    if (blobs.has(media.id)) blobs.get(media.id).then(settle, () => {});
    link.addEventListener("click", async (click) => {
      if (link.dataset.ready) return;
      click.preventDefault();
      await context.act(null, async () => {
        settle(await bytesOf(media));
        link.click();
      });
    });
    return link;
  };

  const draw = (media) => {
    const stored = media.status === "stored" && media.url;
    return h(
      "div",
      { class: "media", dataset: { mediaId: media.id ?? "", mediaStatus: media.status } },
      h(
        "span",
        { class: "media-facts" },
        h("strong", {}, media.type),
        " ",
        media.filename ? h("span", { class: "media-name" }, media.filename) : null,
        ` (${sizeText(media.size)}) `,
        badge(media.status),
      ),
      media.status === "unavailable" && media.error ? h("span", { class: "media-error" }, media.error) : null,
      media.caption ? h("span", { class: "media-caption" }, media.caption) : null,
      stored && media.type === "image" ? thumbnail(media) : null,
      stored ? downloadLink(media) : null,
    );
  };

  return {
    // A block for one media, kept so that update() can redraw it.
    show(media) {
      const block = draw(media);
      if (media.id) {
        if (!blocks.has(media.id)) blocks.set(media.id, new Set());
        const drawn = blocks.get(media.id);
        // Blocks a list's redraw took off the page are forgotten.
        for (const old of [...drawn]) if (!old.isConnected) drawn.delete(old);
        drawn.add(block);
      }
      return block;
    },
    // message.media: every block still on the page for that media is redrawn with its new status.
    update(media) {
      const drawn = blocks.get(media.id);
      if (!drawn) return;
      for (const block of [...drawn]) {
        drawn.delete(block);
        if (block.isConnected) block.replaceWith(this.show(media));
      }
    },
  };
}
