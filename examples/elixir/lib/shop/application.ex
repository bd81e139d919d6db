defmodule Shop.Application do
  @moduledoc """
  Serves HTTP on 127.0.0.1:$PORT. On SIGTERM the BEAM stops gracefully (init:stop/0): this
  application's prep_stop/1 and stop/1 run, and their lines in the slot's log say so.
  """
  use Application
  require Logger

  @impl true
  def start(_type, _args) do
    port = String.to_integer(System.fetch_env!("PORT"))
    root = String.to_charlist(File.cwd!())

    {:ok, _httpd} =
      :inets.start(:httpd,
        port: port,
        bind_address: {127, 0, 0, 1},
        server_name: 'shop',
        server_root: root,
        document_root: root,
        modules: [Shop.Web]
      )

    Logger.info("shop #{Shop.Web.version()} listening on port #{port}")
    Supervisor.start_link([], strategy: :one_for_one, name: Shop.Supervisor)
  end

  @impl true
  def prep_stop(state) do
    Logger.info("shop #{Shop.Web.version()} stopping")
    state
  end

  @impl true
  def stop(_state), do: Logger.info("shop #{Shop.Web.version()} stopped")
end
