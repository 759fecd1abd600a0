// Filter and search for the offline HTML report: no network, no libraries.
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("#results-table tbody tr"));
  var texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
  var q = document.getElementById("q");
  var target = document.getElementById("target");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[name=status]"));
  var shown = document.getElementById("shown");

  function apply() {
    var needle = q.value.trim().toLowerCase();
    var wanted = {};
    boxes.forEach(function (b) { if (b.checked) { wanted[b.value] = true; } });
    var count = 0;
    rows.forEach(function (row, i) {
      var visible = wanted[row.dataset.status] === true &&
        (!target.value || row.dataset.target === target.value) &&
        (!needle || texts[i].indexOf(needle) !== -1);
      row.hidden = !visible;
      if (visible) { count += 1; }
    });
    shown.textContent = String(count);
  }

  q.addEventListener("input", apply);
  target.addEventListener("change", apply);
  boxes.forEach(function (b) { b.addEventListener("change", apply); });
  apply();
}());
