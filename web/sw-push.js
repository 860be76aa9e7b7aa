// Web Push in the service worker (appended to the generated sw.js by vite.config.ts). The hub
// sends one fixed sentence and a link, encrypted to this browser's subscription (RFC 8291);
// what is shown is that sentence only, and a tap opens the app (never a link to elsewhere).
const PUSH_TEXT = "You have an urgent consult in medshare";
self.addEventListener("push", (e) => {
  let body = PUSH_TEXT;
  try {
    const data = e.data ? e.data.json() : null;
    // Only the hub's fixed sentence is shown; anything else is replaced by it.
    if (data && data.body === PUSH_TEXT) body = data.body;
  } catch {
    /* not JSON: the fixed sentence */
  }
  e.waitUntil(
    self.registration.showNotification("medshare", {
      body,
      tag: "medshare-consult",
      renotify: true,
      icon: "/icon-192.png",
      data: { url: "/" },
    }),
  );
});
self.addEventListener("notificationclick", (e) => {
  e.notification.close();
  e.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((all) => {
      const open = all.find((c) => new URL(c.url).origin === self.location.origin);
      return open ? open.focus() : self.clients.openWindow("/");
    }),
  );
});
