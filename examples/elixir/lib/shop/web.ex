defmodule Shop.Web do
  @moduledoc """
  The answers, as an :inets httpd callback module: GET /health, GET /version, GET /,
  GET /slow (2 s), POST /echo; anything else 404. Every answer carries X-App-Version.
  """
  require Record
  Record.defrecordp(:mod, Record.extract(:mod, from_lib: "inets/include/httpd.hrl"))

  @doc "The REVISION file the deploy writes at the release's root ($RELEASE_ROOT)."
  def version do
    case File.read(Path.join(System.fetch_env!("RELEASE_ROOT"), "REVISION")) do
      {:ok, text} -> String.trim(text)
      {:error, _} -> "dev"
    end
  end

  # httpd calls do/1, a name Elixir reserves.
  def unquote(:do)(request) do
    {status, body} = answer(mod(request, :method), mod(request, :request_uri), request)
    body = IO.iodata_to_binary(body)

    head = [
      code: status,
      content_type: 'text/plain',
      content_length: Integer.to_charlist(byte_size(body)),
      "x-app-version": String.to_charlist(version())
    ]

    {:proceed, [response: {:response, head, :binary.bin_to_list(body)}]}
  end

  defp answer('GET', '/health', _), do: {200, "ok"}
  defp answer('GET', '/version', _), do: {200, version()}

  defp answer('GET', '/', _),
    do: {200, "shop #{version()} on the #{System.get_env("SLOT")} slot\n"}

  defp answer('GET', '/slow' ++ _, _) do
    Process.sleep(2000)
    {200, "slow\n"}
  end

  defp answer('POST', '/echo', request), do: {200, mod(request, :entity_body)}
  defp answer(_, _, _), do: {404, "not found\n"}
end
