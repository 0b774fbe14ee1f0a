// Zoom and pan for the image page (no libraries). Wheel zooms around the
// pointer, dragging pans, the toolbar fits or shows actual pixels.
(function () {
  "use strict";
  var stage = document.getElementById("stage");
  var img = document.getElementById("picture");
  if (!stage || !img) { return; }
  var scale = 1, x = 0, y = 0, drag = null;
  function apply() { img.style.transform = "translate(" + x + "px," + y + "px) scale(" + scale + ")"; }
  function fit() {
    var w = img.naturalWidth || 1, h = img.naturalHeight || 1;
    scale = Math.min(stage.clientWidth / w, stage.clientHeight / h, 1);
    x = (stage.clientWidth - w * scale) / 2; y = (stage.clientHeight - h * scale) / 2; apply();
  }
  function zoomAt(factor, cx, cy) {
    var next = Math.max(0.05, Math.min(16, scale * factor));
    x = cx - (cx - x) * (next / scale); y = cy - (cy - y) * (next / scale); scale = next; apply();
  }
  if (img.complete) { fit(); } else { img.addEventListener("load", fit); }
  window.addEventListener("resize", fit);
  stage.addEventListener("wheel", function (e) {
    e.preventDefault();
    var r = stage.getBoundingClientRect();
    zoomAt(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  stage.addEventListener("pointerdown", function (e) {
    drag = { px: e.clientX, py: e.clientY, x: x, y: y }; stage.setPointerCapture(e.pointerId); stage.classList.add("dragging");
  });
  stage.addEventListener("pointermove", function (e) {
    if (!drag) { return; } x = drag.x + e.clientX - drag.px; y = drag.y + e.clientY - drag.py; apply();
  });
  stage.addEventListener("pointerup", function () { drag = null; stage.classList.remove("dragging"); });
  document.querySelectorAll("[data-zoom]").forEach(function (b) {
    b.addEventListener("click", function () {
      var c = [stage.clientWidth / 2, stage.clientHeight / 2], what = b.getAttribute("data-zoom");
      if (what === "in") { zoomAt(1.5, c[0], c[1]); } else if (what === "out") { zoomAt(1 / 1.5, c[0], c[1]); }
      else if (what === "fit") { fit(); } else { zoomAt(1 / scale, c[0], c[1]); }
    });
  });
})();
