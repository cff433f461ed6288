// The console's only script, and optional: every page works without it. It refreshes a section
// marked data-refresh (a campaign's progress while it plans) by reading the same page again.
(function () {
  const live = document.querySelector('[data-refresh]');
  if (!live) return;
  const every = Number(live.getAttribute('data-refresh')) || 2000;
  async function tick() {
    try {
      const res = await fetch(location.href, { credentials: 'same-origin', headers: { accept: 'text/html' } });
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      const fresh = doc.getElementById(live.id);
      if (!fresh) return;
      live.innerHTML = fresh.innerHTML;
      if (!fresh.hasAttribute('data-refresh')) {
        // Planning is over: load the whole page once, for the actions that now apply.
        location.reload();
        return;
      }
    } catch {
      /* offline for a moment: try again */
    }
    setTimeout(tick, every);
  }
  setTimeout(tick, every);
})();
