// Deadlines count down: "（あと2日3時間）" after each deadline, refreshed every minute.
(function () {
  function remaining(ms) {
    if (ms <= 0) return "（締切済み）";
    var minutes = Math.floor(ms / 60000);
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    if (days > 0) return "（あと" + days + "日" + hours + "時間）";
    if (hours > 0) return "（あと" + hours + "時間" + (minutes % 60) + "分）";
    return "（あと" + minutes + "分）";
  }
  function update() {
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = el.nextElementSibling;
      if (!left || !left.classList.contains("countdown")) {
        left = document.createElement("span");
        left.className = "countdown";
        el.after(left);
      }
      left.textContent = remaining(Date.parse(el.dataset.countdown) - Date.now());
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    update();
    setInterval(update, 60000);
  });
})();
