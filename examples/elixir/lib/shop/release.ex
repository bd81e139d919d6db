defmodule Shop.Release do
  @moduledoc """
  Tasks run with `bin/shop eval`, which loads the code without starting the app: the deploy's
  `migrate-command: bin/shop eval 'Shop.Release.migrate()'`. This one only notes the version it
  migrated to in $DEPLOY_PATH/shared/migrations.log, where a Phoenix app runs Ecto's migrator.
  """
  def migrate do
    log = Path.join([System.fetch_env!("DEPLOY_PATH"), "shared", "migrations.log"])
    File.mkdir_p!(Path.dirname(log))
    File.write!(log, "#{Shop.Web.version()}\n", [:append])
  end
end
