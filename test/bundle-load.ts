/**
 * Browsers of an app with fingerprinted assets, across deploys: each asks for a page (the sample
 * app's `/page`, which names its bundle, `/assets/app-<hash>.js`), then for that bundle 0.2-3 s
 * later, as a lazy chunk or a stylesheet is, on a new connection each time (so a reload's closed
 * keep-alive connection is not what is measured), until stopped.
 */
import { request } from 'node:http'

export interface BundleLoadReport {
  pages: number
  bundles: number
  /** Pages that did not answer 200 with a bundle name: `<url>: <why>`. */
  failedPages: string[]
  /** Bundles that did not answer 200: `<bundle>: <why>`. */
  failedBundles: string[]
}

export interface BundleLoad {
  /** The report once this many bundles were fetched (waits for them). */
  bundlesAtLeast(count: number): Promise<void>
  stop(): Promise<BundleLoadReport>
}

const TIMEOUT_MS = 10_000

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: TIMEOUT_MS }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer in ${TIMEOUT_MS} ms`)))
    req.on('error', reject)
    req.end()
  })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** `clients` browsers, each on the next of `origins` (`http://host`) in turn. */
export function startBundleLoad(origins: string[], clients = 6): BundleLoad {
  const report: BundleLoadReport = { pages: 0, bundles: 0, failedPages: [], failedBundles: [] }
  let running = true
  const browse = async (first: number) => {
    for (let i = first; running; i++) {
      const origin = origins[i % origins.length]!
      let bundle: string | undefined
      try {
        const page = await get(`${origin}/page`)
        bundle = /src="([^"]+)"/.exec(page.body)?.[1]
        report.pages++
        if (page.status !== 200 || bundle === undefined) {
          report.failedPages.push(`${origin}/page: HTTP ${page.status} ${page.body.trim()}`)
          bundle = undefined
        }
      } catch (error) {
        report.failedPages.push(`${origin}/page: ${(error as Error).message}`)
      }
      if (bundle === undefined) {
        await sleep(200)
        continue
      }
      await sleep(200 + Math.random() * 2800)
      try {
        const r = await get(`${origin}${bundle}`)
        report.bundles++
        if (r.status !== 200) report.failedBundles.push(`${bundle}: HTTP ${r.status}`)
      } catch (error) {
        report.bundles++
        report.failedBundles.push(`${bundle}: ${(error as Error).message}`)
      }
    }
  }
  const browsers = Array.from({ length: clients }, (_, i) => browse(i))
  return {
    async bundlesAtLeast(count) {
      while (report.bundles < count) await sleep(100)
    },
    async stop() {
      running = false
      await Promise.all(browsers)
      return report
    },
  }
}
