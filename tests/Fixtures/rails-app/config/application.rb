require_relative "boot"

require "rails"
require "active_record/railtie"

Bundler.require(*Rails.groups)

module Shop
  class Application < Rails::Application
    config.load_defaults 6.1
    config.eager_load = false
    config.logger = Logger.new(nil)
    config.active_record.dump_schema_after_migration = false
  end
end
