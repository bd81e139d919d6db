# A Mix release that the e2e tests deploy blue-green (__tests__/e2e/elixir-release.test.ts): no
# dependencies from hex, an HTTP endpoint on OTP's own :inets httpd. Build it with
# `MIX_ENV=prod mix release` and ship `_build/prod/rel/shop` (README "Recipes": Phoenix release).
defmodule Shop.MixProject do
  use Mix.Project

  def project do
    [
      app: :shop,
      version: "0.1.0",
      elixir: "~> 1.14",
      deps: [],
      releases: [shop: [include_executables_for: [:unix]]]
    ]
  end

  def application do
    [extra_applications: [:logger, :inets], mod: {Shop.Application, []}]
  end
end
