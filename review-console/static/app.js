// The event page: after a verdict, follow the device's reply to the
// feedback command without reloading (same-origin JSON, session cookie).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("feedback");
  if (!box) return;
  const waiting = () => box.dataset.state === "pending" || box.dataset.state === "sent";
  const poll = async () => {
    if (!waiting()) return;
    try {
      const r = await fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.ok) {
        const j = await r.json();
        box.dataset.state = j.state;
        box.querySelector(".state").textContent = j.state_text;
        box.querySelector(".reply").textContent = j.reply_text;
      }
    } catch (e) { /* the console restarted: try again */ }
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 1000);
});
