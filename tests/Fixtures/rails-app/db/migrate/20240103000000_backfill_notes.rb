class BackfillNotes < ActiveRecord::Migration[6.1]
  def up
    execute "UPDATE orders SET note = 'imported: ' || customer WHERE note IS NULL"
  end

  # The notes written above cannot be told apart from real ones.
  def down
    raise ActiveRecord::IrreversibleMigration
  end
end
