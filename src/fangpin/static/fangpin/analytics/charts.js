/* 监测分析 charts: ECharts (served locally) fed by the JSON the page embeds (no inline script: CSP). */
(function () {
  "use strict";
  if (typeof echarts === "undefined") return;

  function size(el) {
    el.style.width = "100%";
    el.style.height = el.classList.contains("fp-chart-tall") ? "420px" : "320px";
  }

  function chart(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    size(el);
    var c = echarts.init(el, null, { renderer: "canvas" });
    window.addEventListener("resize", function () { c.resize(); });
    return c;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r.json();
    });
  }

  function done(el) { if (el) el.setAttribute("data-ready", "1"); }

  function range(values) {
    var nums = values.filter(function (v) { return v !== null && v !== undefined; });
    if (!nums.length) return [0, 1];
    return [Math.min.apply(null, nums), Math.max.apply(null, nums) || 1];
  }

  // The map: counties as coloured polygons (province / city), townships or villages as coloured points.
  function drawMap(data) {
    var el = document.getElementById("map");
    var c = chart("map");
    if (!c) return;
    Promise.all([getJSON(el.dataset.geo), getJSON(el.dataset.points)]).then(function (loaded) {
      var geo = loaded[0], points = loaded[1];
      var county = data.region.length >= 6 ? data.region.slice(0, 6) : null;
      var city = data.region.length === 4 ? data.region : null;
      var features = geo.features.filter(function (f) {
        if (county) return f.properties.code === county;
        if (city) return f.properties.code.indexOf(city) === 0;
        return true;
      });
      echarts.registerMap("fp-area", { type: "FeatureCollection", features: features });
      var values = data.areas.map(function (a) { return a.value; });
      var mm = range(values);
      var visual = {
        min: mm[0], max: mm[1], calculable: true, left: 8, bottom: 8,
        text: ["高", "低"], inRange: { color: ["#e8f3fc", "#74b0e8", "#206bc4", "#d63939"] },
      };
      var drill = function (params) {
        var code = params.data && params.data.code;
        if (code) window.location.href = data.drill.replace("PREFIX", code) + window.location.search;
      };
      var option;
      if (data.mapLevel === "county") {
        option = {
          tooltip: { trigger: "item", formatter: function (p) { return p.name + "：" + ((p.data && p.data.text) || "—"); } },
          visualMap: visual,
          series: [{
            type: "map", map: "fp-area", nameProperty: "code", roam: true,
            label: { show: features.length < 30, fontSize: 10, formatter: function (p) { return (p.data && p.data.label) || ""; } },
            data: data.areas.map(function (a) { return { name: a.code, code: a.code, value: a.value, text: a.text, label: a.name }; }),
          }],
        };
      } else {
        // a township's villages occupy a patch of the county: centre and zoom on them
        var own = data.areas.filter(function (a) { return points[a.code]; }).map(function (a) { return points[a.code]; });
        var view = {};
        if (data.mapLevel === "village" && own.length) {
          var xs = own.map(function (p) { return p[0]; }), ys = own.map(function (p) { return p[1]; });
          var box = features.length ? bounds(features) : null;
          var w = Math.max.apply(null, xs) - Math.min.apply(null, xs), h = Math.max.apply(null, ys) - Math.min.apply(null, ys);
          view.center = [(Math.max.apply(null, xs) + Math.min.apply(null, xs)) / 2, (Math.max.apply(null, ys) + Math.min.apply(null, ys)) / 2];
          if (box) view.zoom = Math.max(1, Math.min(8, 0.6 * Math.min((box[2] - box[0]) / Math.max(w, 0.01), (box[3] - box[1]) / Math.max(h, 0.01))));
        }
        option = {
          tooltip: { trigger: "item", formatter: function (p) { return p.data.label + "：" + (p.data.text || "—"); } },
          visualMap: Object.assign({ seriesIndex: 0 }, visual),
          geo: Object.assign({ map: "fp-area", roam: true, itemStyle: { areaColor: "#f6f8fb", borderColor: "#9aa0ac" } }, view),
          series: [{
            type: "scatter", coordinateSystem: "geo", symbolSize: data.mapLevel === "township" ? 14 : 8,
            itemStyle: { borderColor: "#667382", borderWidth: 0.6 },
            data: data.areas.filter(function (a) { return points[a.code]; }).map(function (a) {
              return { value: points[a.code].concat([a.value]), code: a.code, label: a.name, text: a.text };
            }),
          }],
        };
      }
      c.on("finished", function () { done(el); });
      c.on("click", drill);
      c.setOption(option);
    }).catch(function (err) { el.textContent = "地图数据加载失败：" + err.message; done(el); });
  }

  function bounds(features) {
    var b = [Infinity, Infinity, -Infinity, -Infinity];
    function walk(c) {
      if (typeof c[0] === "number") {
        b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]); b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]);
      } else { c.forEach(walk); }
    }
    features.forEach(function (f) { walk(f.geometry.coordinates); });
    return b;
  }

  function drawFunnel(data) {
    var c = chart("funnel");
    if (!c) return;
    var el = document.getElementById("funnel");
    c.on("finished", function () { done(el); });
    c.setOption({
      tooltip: { trigger: "item", formatter: "{b}：{c}" },
      series: [{
        type: "funnel", sort: "none", left: "10%", width: "80%", gap: 2,
        label: { show: true, position: "inside", formatter: function (p) { return p.name + " " + (p.value === null ? "<5" : p.value); } },
        data: data.trend.funnel.map(function (f) { return { name: f.name, value: f.value }; }),
      }],
    });
  }

  function drawTrend(data) {
    var c = chart("trend");
    if (!c) return;
    c.setOption({
      tooltip: { trigger: "axis" },
      legend: { top: 0, type: "scroll" },
      grid: { left: 48, right: 16, top: 40, bottom: 28 },
      xAxis: { type: "category", data: data.trend.months },
      yAxis: { type: "value" },
      series: data.trend.series.map(function (s) { return { name: s.name, type: "line", data: s.data, connectNulls: false }; }),
    });
  }

  function drawDeadline(data) {
    var c = chart("deadline");
    if (!c) return;
    c.setOption({
      tooltip: { trigger: "axis", formatter: function (p) { return p[0].name + "：" + (p[0].data === null ? "—" : p[0].data + "%"); } },
      grid: { left: 90, right: 24, top: 8, bottom: 24 },
      xAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
      yAxis: { type: "category", data: data.deadline.map(function (d) { return d.name; }), inverse: true },
      series: [{
        type: "bar", data: data.deadline.map(function (d) { return d.value; }),
        itemStyle: { color: function (p) { return p.value !== null && p.value < 90 ? "#d63939" : "#2fb344"; } },
        markLine: { symbol: "none", data: [{ xAxis: 90 }], lineStyle: { type: "dashed" } },
      }],
    });
  }

  function drawAlerts(alerts) {
    var el = document.getElementById("alert-map");
    var c = chart("alert-map");
    if (!c) return;
    Promise.all([getJSON(el.dataset.geo), getJSON(el.dataset.points)]).then(function (loaded) {
      var geo = loaded[0], points = loaded[1];
      var counties = {};
      alerts.forEach(function (a) { a.villages.forEach(function (v) { counties[v.slice(0, 6)] = true; }); });
      var features = geo.features.filter(function (f) { return counties[f.properties.code]; });
      echarts.registerMap("fp-alerts", { type: "FeatureCollection", features: features.length ? features : geo.features });
      var data = [];
      alerts.forEach(function (a) {
        a.villages.forEach(function (v) { if (points[v]) data.push({ value: points[v].concat([a.rr]), name: v, id: a.id }); });
      });
      c.on("finished", function () { done(el); });
      c.on("click", function (p) { if (p.data && p.data.id) window.location.href = String(p.data.id) + "/"; });
      c.setOption({
        tooltip: { trigger: "item", formatter: function (p) { return p.data.name + " 相对风险 " + p.data.value[2]; } },
        geo: { map: "fp-alerts", roam: true, itemStyle: { areaColor: "#f6f8fb", borderColor: "#9aa0ac" } },
        series: [{ type: "effectScatter", coordinateSystem: "geo", symbolSize: 10, itemStyle: { color: "#d63939" }, data: data }],
      });
    }).catch(function (err) { el.textContent = "地图数据加载失败：" + err.message; done(el); });
  }

  var node = document.getElementById("chart-data");
  if (node) {
    var data = JSON.parse(node.textContent);
    drawMap(data);
    drawFunnel(data);
    drawTrend(data);
    drawDeadline(data);
  }
  var alertNode = document.getElementById("alert-data");
  if (alertNode) drawAlerts(JSON.parse(alertNode.textContent));
})();
