import { describe, expect, it } from 'vitest'
import {
  connectionVariable,
  renderSite,
  renderUpstream,
  upstreamOwnership,
  upstreamPlaceholder,
} from '../../src/nginx/render.js'
import { writtenBeforeWebsockets } from '../../test/deploy-fixture.js'
import { readmeBlock } from '../../test/readme.js'

const spec = {
  name: 'shop-api',
  servers: [{ port: 3002 }],
  liveSlot: 'green',
  verifyPort: 3003,
}

describe('renderUpstream', () => {
  it('renders the upstream, the connection map, the live-slot variable and the verification server', () => {
    const text = renderUpstream(spec)
    expect(text.split('\n').slice(0, 2)).toEqual([
      '# Managed by ssh-zero-downtime-deploy for upstream shop-api. Do not edit: the next deploy',
      '# refuses to overwrite a changed file unless its input force is true.',
    ])
    expect(text.split('\n')[2]).toMatch(/^# sha256:[0-9a-f]{64}$/)
    expect(text.split('\n').slice(3).join('\n')).toBe(`upstream shop-api {
    server 127.0.0.1:3002 max_fails=0;
}
map $http_upgrade $shop_api_connection {
    default upgrade;
    "" "";
}
map $host $shop_api_live_slot {
    default green;
}
server {
    listen 127.0.0.1:3003;
    access_log off;
    location / {
        proxy_pass http://shop-api;
        add_header X-Deploy-Upstream $upstream_addr always;
    }
}
`)
  })

  it('renders weights and down servers', () => {
    const text = renderUpstream({
      ...spec,
      servers: [
        { port: 3001, weight: 90 },
        { port: 3002, weight: 10, down: true },
      ],
    })
    expect(text).toContain('    server 127.0.0.1:3001 weight=90 max_fails=0;\n')
    expect(text).toContain('    server 127.0.0.1:3002 weight=10 max_fails=0 down;\n')
  })

  it('writes the canary log itself in the http context, only for the app slots', () => {
    const text = renderUpstream({
      ...spec,
      canaryLogFormat: true,
      canaryLog: { path: '/var/log/nginx/shop-api-canary.log', ports: [3001, 3002] },
    })
    expect(text).toContain(
      "\nlog_format shop-api_canary '$msec|$status|$upstream_addr|$upstream_response_time';\n" +
        'map $upstream_addr $shop_api_canary_logged {\n' +
        '    default 0;\n' +
        '    "~(^| )127\\.0\\.0\\.1:(3001|3002)(,| |$)" 1;\n' +
        '}\n' +
        'access_log /var/log/nginx/shop-api-canary.log shop-api_canary if=$shop_api_canary_logged;\n' +
        'upstream shop-api {\n',
    )
    // The verify server logs nothing: the action's own verify requests are never counted.
    expect(text).toMatch(/server \{\n {4}listen 127\.0\.0\.1:\d+;\n {4}access_log off;\n/)
    const pattern = /"~(.*)" 1;/.exec(text)![1]!
    const logged = new RegExp(pattern)
    for (const addr of ['127.0.0.1:3001', '127.0.0.1:3002', '127.0.0.1:3001, 127.0.0.1:3002'])
      expect(addr).toMatch(logged)
    for (const addr of ['', '127.0.0.1:30010', '127.0.0.1:4001', '10.0.0.1:80', '127.0.0.1:13001'])
      expect(addr).not.toMatch(logged)
    expect('10.0.0.1:80 : 127.0.0.1:3002').toMatch(logged)
  })

  it('writes no access log without canaryLog (every other strategy)', () => {
    expect(renderUpstream({ ...spec, canaryLogFormat: true })).not.toContain('access_log /')
  })

  it('defines the canary log format for the site to write', () => {
    expect(renderUpstream({ ...spec, canaryLogFormat: true })).toContain(
      "\nlog_format shop-api_canary '$msec|$status|$upstream_addr|$upstream_response_time';\nupstream shop-api {\n",
    )
  })

  it('hashes on the sticky cookie, and offers the cookie for requests without one', () => {
    const text = renderUpstream({
      ...spec,
      stickyCookie: 'sid',
      servers: [
        { port: 3001, weight: 75 },
        { port: 3002, weight: 25 },
      ],
    })
    expect(text).toContain(`map $cookie_sid $shop_api_canary_key {
    "" $request_id;
    default $cookie_sid;
}
map $cookie_sid $shop_api_canary_cookie {
    "" "sid=$request_id; Path=/; HttpOnly; SameSite=Lax";
    default "";
}
upstream shop-api {
    hash $shop_api_canary_key consistent;
    server 127.0.0.1:3001 weight=75 max_fails=0;
    server 127.0.0.1:3002 weight=25 max_fails=0;
}
`)
  })

  it('keeps the cookie variable but does not hash when one slot serves', () => {
    const text = renderUpstream({ ...spec, stickyCookie: 'sid' })
    expect(text).toContain('map $cookie_sid $shop_api_canary_cookie {')
    expect(text).not.toContain('hash ')
  })
})

describe('the connection map', () => {
  it('is named per app, so two apps on one nginx do not define the same variable', () => {
    expect(connectionVariable('shop')).toBe('$shop_connection')
    expect(connectionVariable('shop-api')).toBe('$shop_api_connection')
    const maps = [renderUpstream({ ...spec, name: 'shop' }), renderUpstream(spec)].map(
      (text) => text.match(/^map \$http_upgrade (\S+) \{$/m)?.[1],
    )
    expect(maps).toEqual(['$shop_connection', '$shop_api_connection'])
  })
})

describe('upstreamOwnership', () => {
  const ours = renderUpstream(spec)

  it.each([
    ['', 'absent'],
    ['\n  \n', 'absent'],
    [ours, 'ours'],
    [ours.replace('max_fails=0', 'max_fails=3'), 'drifted'],
    [ours + '# a comment added by hand\n', 'drifted'],
    ['upstream shop-api { server 127.0.0.1:3001; }\n', 'foreign'],
  ])('%#: %j is %s', (content, expected) => {
    expect(upstreamOwnership(content)).toBe(expected)
  })
})

describe('renderUpstream for a load balancer', () => {
  it('lists app hosts (IPv6 in brackets), marks some down, and has no live-slot variable', () => {
    const text = renderUpstream({
      name: 'shop_lb',
      servers: [
        { host: 'web1.example.com', port: 80 },
        { host: '2001:db8::2', port: 8080, down: true },
      ],
      verifyPort: 3003,
    })
    expect(text.split('\n').slice(3, 12).join('\n')).toBe(`upstream shop_lb {
    server web1.example.com:80 max_fails=0;
    server [2001:db8::2]:8080 max_fails=0 down;
}
map $http_upgrade $shop_lb_connection {
    default upgrade;
    "" "";
}
server {`)
  })
})

describe('the placeholder upstream (README "Host setup")', () => {
  const line = upstreamPlaceholder('shop')

  it('is one upstream whose only server is down and the connection map, so a site naming them passes nginx -t', () => {
    expect(line).toBe(
      'upstream shop { server 127.0.0.1:1 down; } map $http_upgrade $shop_connection { default upgrade; "" ""; } # placeholder: the first deploy replaces this file',
    )
  })

  it("is also the README's line from before websockets (a host set up then, not deployed yet)", () => {
    const before =
      'upstream shop { server 127.0.0.1:1 down; } # placeholder: the first deploy replaces this file'
    expect(upstreamOwnership(`${before}\n`, 'shop')).toBe('placeholder')
    expect(upstreamOwnership(`${before}\n`, 'shop-api')).toBe('foreign')
  })

  it('is the line the README tells the operator to write', () => {
    expect(readmeBlock('host-setup')).toContain(`echo '${line}' >`)
  })

  it.each([
    [`${line}\n`, 'shop', 'placeholder'],
    [`  ${line}\n\n`, 'shop', 'placeholder'],
    [`${line}\n`, undefined, 'foreign'],
    [`${line}\n`, 'shop-api', 'foreign'],
    [`${line.replace(':1 down', ':3001')}\n`, 'shop', 'foreign'],
    [`${line}\nserver { listen 81; }\n`, 'shop', 'foreign'],
  ])("%#: is %2$s's placeholder: %3$s", (content, name, expected) => {
    expect(upstreamOwnership(content, name)).toBe(expected)
  })
})

describe('renderSite', () => {
  const site = renderSite({
    name: 'shop',
    serverNames: ['shop.example.com', 'www.shop.example.com'],
    listen: '80',
  })

  it('renders a checksummed site that proxies to the upstream over keep-alive, websockets included', () => {
    const lines = site.split('\n')
    expect(lines.slice(0, 2)).toEqual([
      '# Managed by ssh-zero-downtime-deploy for site shop (input nginx-site). Do not edit: the',
      '# next deploy refuses to overwrite a changed file unless its input force is true.',
    ])
    expect(lines[2]).toMatch(/^# sha256:[0-9a-f]{64}$/)
    expect(lines.slice(3).join('\n')).toBe(`server {
    listen 80;
    server_name shop.example.com www.shop.example.com;
    location / {
        proxy_pass http://shop;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $shop_connection;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $host;
    }
}
`)
  })

  it('has no access_log of its own (it inherits the http-level ones, the canary log included)', () => {
    expect(site).not.toContain('access_log')
  })

  it('renders the listen address as given', () => {
    const text = renderSite({ name: 'shop', serverNames: ['a.example'], listen: '[::]:8080' })
    expect(text).toContain('    listen [::]:8080;\n')
  })

  it.each([
    [site, 'ours'],
    [site.replace('listen 80;', 'listen 8080;'), 'drifted'],
    ['server { listen 80; location / { proxy_pass http://shop; } }\n', 'foreign'],
    ['', 'absent'],
  ])('%#: ownership is %2$s', (content, expected) => {
    expect(upstreamOwnership(content)).toBe(expected)
  })
})

describe('files written by the version before websockets', () => {
  const siteSpec = { name: 'shop', serverNames: ['shop.example.com'], listen: '80' }
  const upstream = writtenBeforeWebsockets(renderUpstream({ ...spec, name: 'shop' }))
  const site = writtenBeforeWebsockets(renderSite(siteSpec))

  it('are what that version rendered', () => {
    expect(upstream).not.toContain('$http_upgrade')
    expect(site).toContain(
      '        proxy_http_version 1.1;\n        proxy_set_header Connection "";\n        proxy_set_header Host $host;\n',
    )
  })

  it("are still the action's (no drift), so the next deploy replaces them", () => {
    expect(upstreamOwnership(upstream, 'shop')).toBe('ours')
    expect(upstreamOwnership(site)).toBe('ours')
  })

  it('the site differs from the one rendered now, so the next switch writes it again', () => {
    // readState: siteToInstall = the file on the host !== renderedSite(settings)
    expect(renderSite(siteSpec)).not.toBe(site)
  })
})
