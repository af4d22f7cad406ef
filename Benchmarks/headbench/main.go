// headbench: HEAD one URL from -c keep-alive connections for -d, and print the requests per second answered 200.
// (wrk waits for a body after a HEAD answer that has a Content-Length, and regbench's get only GETs.)
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "URL to HEAD")
	clients := flag.Int("c", 64, "concurrent connections")
	duration := flag.Duration("d", 10*time.Second, "how long")
	flag.Parse()
	transport := &http.Transport{MaxIdleConnsPerHost: *clients, MaxConnsPerHost: *clients}
	client := &http.Client{Transport: transport}
	var ok, failed atomic.Int64
	deadline := time.Now().Add(*duration)
	var wait sync.WaitGroup
	for i := 0; i < *clients; i++ {
		wait.Add(1)
		go func() {
			defer wait.Done()
			for time.Now().Before(deadline) {
				response, err := client.Head(*url)
				if err != nil || response.StatusCode != 200 {
					failed.Add(1)
					if response != nil {
						response.Body.Close()
					}
					continue
				}
				response.Body.Close()
				ok.Add(1)
			}
		}()
	}
	wait.Wait()
	if failed.Load() > 0 {
		fmt.Fprintf(os.Stderr, "headbench: %d requests failed\n", failed.Load())
		os.Exit(1)
	}
	fmt.Printf("%.1f\n", float64(ok.Load())/duration.Seconds())
}
