package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fetchkit/fetch/proxy"
)

// cacheCollector exports the counters of a proxy.Cache to Prometheus,
// read from its Stats at each scrape.
type cacheCollector struct {
	cache                                            *proxy.Cache
	requests, sent, fromUpstream, revalidations      *prometheus.Desc
	upstreamErrors, evictions, files, bytes, clients *prometheus.Desc
}

func newCacheCollector(c *proxy.Cache) *cacheCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("fetch_proxy_"+name, help, labels, nil)
	}
	return &cacheCollector{
		cache:          c,
		requests:       d("requests_total", "Requests answered, by cache status (hit, revalidated, stale, miss, pass).", "cache"),
		sent:           d("sent_bytes_total", "Body bytes sent to clients, by cache status: hit, revalidated and stale came from the cache.", "cache"),
		fromUpstream:   d("upstream_bytes_total", "Bytes downloaded from the upstream into the cache, or passed through."),
		revalidations:  d("revalidations_total", "Conditional requests answered by the upstream."),
		upstreamErrors: d("upstream_errors_total", "Failures of the upstream (unreachable, 5xx) that served a stale copy or failed a request."),
		evictions:      d("evictions_total", "Kept files removed to stay under -cache-max."),
		files:          d("cache_files", "Files kept in the cache."),
		bytes:          d("cache_bytes", "Size of the files kept in the cache."),
		clients:        d("clients", "Requests being served."),
	}
}

func (cc *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cc.requests, cc.sent, cc.fromUpstream, cc.revalidations, cc.upstreamErrors, cc.evictions, cc.files, cc.bytes, cc.clients} {
		ch <- d
	}
}

func (cc *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	st := cc.cache.Stats()
	for _, status := range []string{"hit", "revalidated", "stale", "miss", "pass"} {
		ch <- prometheus.MustNewConstMetric(cc.requests, prometheus.CounterValue, float64(st.Requests[status]), status)
		ch <- prometheus.MustNewConstMetric(cc.sent, prometheus.CounterValue, float64(st.Sent[status]), status)
	}
	ch <- prometheus.MustNewConstMetric(cc.fromUpstream, prometheus.CounterValue, float64(st.FromUpstream))
	ch <- prometheus.MustNewConstMetric(cc.revalidations, prometheus.CounterValue, float64(st.Revalidations))
	ch <- prometheus.MustNewConstMetric(cc.upstreamErrors, prometheus.CounterValue, float64(st.UpstreamErrors))
	ch <- prometheus.MustNewConstMetric(cc.evictions, prometheus.CounterValue, float64(st.Evictions))
	ch <- prometheus.MustNewConstMetric(cc.files, prometheus.GaugeValue, float64(st.Files))
	ch <- prometheus.MustNewConstMetric(cc.bytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(cc.clients, prometheus.GaugeValue, float64(st.Clients))
}
