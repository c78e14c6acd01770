using DeploymentRollback.Engine.Database;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>
/// The migration tools' output and the migrations' sources, read as text: fed what the real tools printed for the
/// fixtures in tests/Fixtures (captured in tests/Unit/Captured) and small sources written here.
/// </summary>
public class MigrationTextTests
{
    private static string Captured(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Captured", name));

    private static string Fixture(params string[] parts)
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        while (folder is not null && !Directory.Exists(Path.Combine(folder.FullName, "tests", "Fixtures")))
        {
            folder = folder.Parent;
        }

        return File.ReadAllText(Path.Combine(new[] { folder!.FullName, "tests", "Fixtures" }.Concat(parts).ToArray()));
    }

    [Fact]
    public void Django_showmigrations_lists_the_apps_migrations_oldest_first_with_whether_each_is_applied()
    {
        var applied = DjangoText.ShowMigrations(Captured("django-showmigrations.txt"));
        var mixed = DjangoText.ShowMigrations("orders\r\n [X] 0001_initial\r\n [ ] 0002_add_note\r\n");

        Assert.Equal(new[] { new Migration("0001_initial", true), new Migration("0002_add_note", true), new Migration("0003_backfill", true) }, applied);
        Assert.Equal(new[] { new Migration("0001_initial", true), new Migration("0002_add_note", false) }, mixed);
        Assert.Empty(DjangoText.ShowMigrations("orders\n (no migrations)\n"));
    }

    [Fact]
    public void Django_plan_gives_the_migrations_in_unapply_order_and_marks_the_irreversible_one()
    {
        var (unapply, irreversible) = DjangoText.Plan(Captured("django-migrate-plan.txt"), "orders");
        var otherApp = DjangoText.Plan("Planned operations:\nbilling.0002_x\n    Raw Python operation -> IRREVERSIBLE\norders.0002_add_note\n    Undo Add field note to order\n", "orders");

        Assert.Equal(new[] { "0003_backfill", "0002_add_note" }, unapply);
        Assert.Equal(new[] { "0003_backfill" }, irreversible);
        Assert.Equal(new[] { "0002_add_note" }, otherApp.Unapply);
        Assert.Empty(otherApp.Irreversible);
        Assert.Empty(DjangoText.Plan("Planned operations:\n  No planned migration operations.\n", "orders").Unapply);
    }

    [Fact]
    public void Rails_status_lists_versions_oldest_first_including_an_applied_one_whose_file_is_gone()
    {
        var status = RailsText.MigrateStatus(Captured("rails-db-migrate-status.txt"));
        var partial = RailsText.MigrateStatus(" Status   Migration ID    Migration Name\n--------\n   up     20231201000000  ********** NO FILE **********\n  down    20240103000000  Backfill notes\n");

        Assert.Equal(new[] { "20240101000000", "20240102000000", "20240103000000" }, status.Select(m => m.Name));
        Assert.All(status, m => Assert.True(m.Applied));
        Assert.Equal(new[] { new Migration("20231201000000", true), new Migration("20240103000000", false) }, partial);
    }

    [Fact]
    public void Rails_irreversible_migrations_are_read_from_their_source()
    {
        Assert.True(RailsText.Irreversible(Fixture("rails-app", "db", "migrate", "20240103000000_backfill_notes.rb")));
        Assert.False(RailsText.Irreversible(Fixture("rails-app", "db", "migrate", "20240102000000_add_note_to_orders.rb")));
        Assert.False(RailsText.Irreversible(Fixture("rails-app", "db", "migrate", "20240101000000_create_orders.rb")));
    }

    [Theory]
    [InlineData("def change\n    add_column :orders, :note, :string\n    execute \"UPDATE orders SET note = ''\"\n  end", true)]
    [InlineData("def change\n    reversible do |dir|\n      dir.up do\n        execute \"UPDATE orders SET note = ''\"\n      end\n    end\n  end", false)]
    [InlineData("def change\n    change_column :orders, :note, :text\n  end", true)]
    [InlineData("def change\n    change_column_default :orders, :note, from: nil, to: 'x'\n  end", false)]
    [InlineData("def change\n    change_column_default :orders, :note, 'x'\n  end", true)]
    [InlineData("def change\n    remove_column :orders, :note\n  end", true)]
    [InlineData("def change\n    remove_column :orders, :note, :string\n  end", false)]
    [InlineData("def up\n    add_column :orders, :note, :string\n  end", true)]
    [InlineData("def up\n    add_column :orders, :note, :string\n  end\n\n  def down; raise ActiveRecord::IrreversibleMigration; end", true)]
    [InlineData("def up\n    add_column :orders, :note, :string\n  end\n\n  def down\n    # raise ActiveRecord::IrreversibleMigration\n    remove_column :orders, :note\n  end", false)]
    public void Rails_change_and_up_down_methods_are_judged_as_the_command_recorder_would(string methods, bool irreversible) =>
        Assert.Equal(irreversible, RailsText.Irreversible($"class M < ActiveRecord::Migration[6.1]\n  {methods}\nend\n"));

    [Fact]
    public void Alembic_history_gives_each_revision_its_parent_and_script()
    {
        var (revisions, nonLinear) = AlembicText.History(Captured("alembic-history-verbose.txt"));

        Assert.Equal(new[] { new AlembicRevision("0003", "0002", "/srv/app/migrations/versions/0003_backfill_notes.py"),
            new AlembicRevision("0002", "0001", "/srv/app/migrations/versions/0002_add_note.py"),
            new AlembicRevision("0001", null, "/srv/app/migrations/versions/0001_create_orders.py") }, revisions);
        Assert.Empty(nonLinear);
    }

    [Fact]
    public void Alembic_history_reports_branch_and_merge_points()
    {
        const string Branched = "Rev: 0004 (head) (mergepoint)\nMerges: 0002, 0003\nPath: /a/0004.py\n\n    merge\n\n"
            + "Rev: 0003 (head)\nParent: 0001\nPath: /a/0003.py\n\n    b\n\nRev: 0002\nParent: 0001\nPath: /a/0002.py\n\n    a\n\n"
            + "Rev: 0001 (branchpoint)\nParent: <base>\nBranches into: 0002, 0003\nPath: /a/0001.py\n\n    Rev: 9999 in a docstring is indented\n";

        var (revisions, nonLinear) = AlembicText.History(Branched);

        Assert.Equal(new[] { "0004", "0003", "0002", "0001" }, revisions.Select(r => r.Id));
        Assert.Equal(new[] { "0004 is a merge point", "0001 is a branch point" }, nonLinear);
    }

    [Fact]
    public void Alembic_offline_sql_tells_revisions_that_change_something_from_those_that_only_move_the_version()
    {
        var sections = AlembicText.OfflineSections(Captured("alembic-downgrade-sql-postgresql.txt"));
        var renamedTable = AlembicText.OfflineSections("-- Running downgrade 0002 -> 0001\n\nUPDATE my_versions SET version_num='0001' WHERE my_versions.version_num = '0002';\n\n"
            + "-- Running downgrade 0001 -> \n\nDELETE FROM my_versions WHERE my_versions.version_num = '0001';\n\nDROP TABLE my_versions;\n");

        Assert.Equal(new[] { ("0003", false), ("0002", true), ("0001", true) }, sections);
        Assert.Equal(new[] { ("0002", false), ("0001", false) }, renamedTable);
    }

    [Fact]
    public void Alembic_script_functions_are_found_empty_or_raising_from_their_source()
    {
        var backfill = Fixture("alembic-app", "migrations", "versions", "0003_backfill_notes.py");
        var addNote = Fixture("alembic-app", "migrations", "versions", "0002_add_note.py");

        Assert.Equal((true, true, false), AlembicText.Function(backfill, "downgrade"));
        Assert.Equal((true, false, false), AlembicText.Function(backfill, "upgrade"));
        Assert.Equal((true, false, false), AlembicText.Function(addNote, "downgrade"));
        Assert.Equal((true, false, true), AlembicText.Function("def downgrade():\n    \"\"\"No.\"\"\"\n    raise NotImplementedError(\"gone\")\n", "downgrade"));
        Assert.Equal((true, false, false), AlembicText.Function("def downgrade():\n    if False:\n        raise RuntimeError()\n    op.drop_table('x')\n", "downgrade"));
        Assert.Equal((true, true, false), AlembicText.Function("def downgrade() -> None: ...\n", "downgrade"));
        Assert.Equal((true, true, false), AlembicText.Function("def downgrade(\n    engine_name: str = '',\n) -> None:\n    # nothing\n    pass\n", "downgrade"));
        Assert.Equal((false, false, false), AlembicText.Function("def upgrade():\n    pass\n", "downgrade"));
    }

    [Fact]
    public void EfCore_prefixed_output_is_split_by_level_and_the_json_list_read()
    {
        const string Output = "info:    Build started...\r\nverbose: Using project '/app/EfCoreApp.csproj'.\ndata:    [\ndata:      { \"id\": \"20240101000000_InitialCreate\", \"name\": \"InitialCreate\", \"safeName\": \"InitialCreate\", \"applied\": true },\n"
            + "data:      { \"id\": \"20240102000000_AddNote\", \"name\": \"AddNote\", \"safeName\": \"AddNote\", \"applied\": false }\ndata:    ]\nwarn:    careful\n";

        var list = EfCoreText.MigrationsList(string.Join('\n', EfCoreText.Lines(Output, "data")));
        var captured = EfCoreText.MigrationsList(string.Join('\n', EfCoreText.Lines(Captured("efcore-migrations-list-json.txt"), "data")));
        var unreachable = EfCoreText.MigrationsList("[{\"id\": \"20240101000000_InitialCreate\", \"name\": \"InitialCreate\", \"applied\": null}]");

        Assert.Equal(new[] { ("20240101000000_InitialCreate", "InitialCreate", (bool?)true), ("20240102000000_AddNote", "AddNote", (bool?)false) }, list);
        Assert.Equal(new[] { ("20240101000000_InitialCreate", "InitialCreate", (bool?)false), ("20240102000000_AddNote", "AddNote", (bool?)false), ("20240103000000_Backfill", "Backfill", (bool?)false) }, captured);
        Assert.Null(Assert.Single(unreachable).Applied);
        Assert.Equal(new[] { "careful" }, EfCoreText.Lines(Output, "warn"));
        Assert.Equal(new[] { "Using project '/app/EfCoreApp.csproj'." }, EfCoreText.Lines(Output, "verbose"));
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => EfCoreText.MigrationsList("Build failed."));
    }

    [Fact]
    public void EfCore_a_migration_whose_down_script_is_only_its_history_row_is_irreversible()
    {
        // 'dotnet ef migrations script 20240103000000_Backfill InitialCreate' for a Backfill whose Down() is empty (EF Core 10, SQLite).
        Assert.Equal(new[] { "20240103000000_Backfill" }, EfCoreText.EmptyDowns(Captured("efcore-migrations-script-sqlite.txt")));
        Assert.Equal(new[] { "20240102000000_x" }, EfCoreText.EmptyDowns("GO\nDELETE FROM [__EFMigrationsHistory]\nWHERE [MigrationId] = N'20240102000000_x';\nGO\n"));
        Assert.Empty(EfCoreText.EmptyDowns("PRAGMA foreign_keys = 0;\nDROP TABLE \"Orders\";\nDELETE FROM \"__EFMigrationsHistory\" WHERE \"MigrationId\" = '20240101000000_InitialCreate';\n"));
    }

    [Fact]
    public void EfCore_the_ef_dll_invocation_is_read_from_the_verbose_log_with_its_quoting()
    {
        // dotnet ef's verbose line for 'migrations list --json' (quoted as the C runtime reads it: a path with a space, a trailing backslash).
        const string Log = "info:    Build started...\nverbose: dotnet exec --depsfile \"/my app/bin/App.deps.json\" --runtimeconfig /a/App.runtimeconfig.json /t/ef.dll migrations list --json "
            + "--assembly \"/my app/bin/App.dll\" --project-dir \"C:\\x y\\\\\" --root-namespace \"Say \\\"hi\\\"\" --verbose --prefix-output\n";

        var direct = EfCoreDirect.Parse(Log, new[] { "migrations", "list", "--json", "--verbose" }, "key");

        Assert.NotNull(direct);
        Assert.Equal(new[] { "exec", "--depsfile", "/my app/bin/App.deps.json", "--runtimeconfig", "/a/App.runtimeconfig.json", "/t/ef.dll" }, direct!.ExecArguments);
        Assert.Equal(new[] { "--assembly", "/my app/bin/App.dll", "--project-dir", "C:\\x y\\", "--root-namespace", "Say \"hi\"" }, direct.ProjectArguments);
        Assert.Equal(new[] { "exec", "--depsfile", "/my app/bin/App.deps.json", "--runtimeconfig", "/a/App.runtimeconfig.json", "/t/ef.dll", "database", "update", "0",
            "--assembly", "/my app/bin/App.dll", "--project-dir", "C:\\x y\\", "--root-namespace", "Say \"hi\"", "--prefix-output" }, direct.Arguments(new[] { "database", "update", "0" }));
        Assert.Equal("--verbose", direct.Arguments(new[] { "migrations", "list", "--verbose" })[^2]);

        // The helper is started as ef.dll is, with ef.dll's path after it; its requests are ef.dll's own arguments.
        Assert.Equal(new[] { "exec", "--depsfile", "/my app/bin/App.deps.json", "--runtimeconfig", "/a/App.runtimeconfig.json", "/m/Helper.dll", "/t/ef.dll" }, direct.HelperArguments("/m/Helper.dll"));
        Assert.Equal(direct.Arguments(new[] { "database", "update", "0" }).Skip(direct.ExecArguments.Count), direct.ToolArguments(new[] { "database", "update", "0" }));

        // Another command's line, or no ef.dll line at all, teaches nothing.
        Assert.Null(EfCoreDirect.Parse(Log, new[] { "migrations", "script", "A", "B" }, "key"));
        Assert.Null(EfCoreDirect.Parse("verbose: Using project '/app/App.csproj'.\nverbose: dotnet build /app/App.csproj\n", new[] { "migrations", "list" }, "key"));
        Assert.Equal(new[] { "a", "", "b c", "d\\e" }, EfCoreDirect.SplitArguments("a \"\" \"b c\"  d\\e"));
    }
}
