// The agent desk's only script: an inbound caller's case opens on this screen the moment the
// telephony webhook arrives (server-sent events). Without it the queue still works by hand.
(function () {
  if (!window.EventSource) { return; }
  var source = new EventSource("/agent/events");
  source.addEventListener("call", function (event) {
    var call = JSON.parse(event.data);
    var banner = document.getElementById("incoming");
    if (banner) {
      banner.hidden = false;
      banner.querySelector("[data-caller]").textContent = (call.debtor_name || call.from) + " (" + call.creditor_name + ")";
    }
    window.location.assign(call.url);
  });
})();
