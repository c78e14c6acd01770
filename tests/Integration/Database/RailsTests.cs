using DeploymentRollback.Engine;
using DeploymentRollback.Engine.Database;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Database;

/// <summary>
/// A copy of tests/Fixtures/rails-app (migrations 20240101000000 create orders, 20240102000000 add note,
/// 20240103000000 backfill notes, irreversible) in a temp folder, using db/development.sqlite3, or the database of a
/// DATABASE_URL (given to Rails only through the request's ToolEnvironment).
/// </summary>
public sealed class RailsProject : IDisposable
{
    public const string First = "20240101000000";
    public const string Second = "20240102000000";
    public const string Third = "20240103000000";

    public RailsProject(string? databaseUrl = null)
    {
        Environment = databaseUrl is null ? null : new Dictionary<string, string> { ["DATABASE_URL"] = databaseUrl };
        Folder = Git.Temp.Combine("rails-app");
        Fixtures.CopyTo("rails-app", Folder);
        // The repository's .gitignore ignores bin/: the fixture's bin/rails may not be checked out, so it is written here.
        var binRails = Path.Combine(Folder, "bin", "rails");
        if (!File.Exists(binRails))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(binRails)!);
            File.WriteAllText(binRails, "#!/usr/bin/env ruby\nAPP_PATH = File.expand_path('../config/application', __dir__)\nrequire_relative \"../config/boot\"\nrequire \"rails/commands\"\n");
        }
    }

    public GitFixture Git { get; } = new();
    public string Folder { get; }
    public string Database => Path.Combine(Folder, "db", "development.sqlite3");
    public IReadOnlyDictionary<string, string>? Environment { get; }

    public string Rails(params string[] arguments)
    {
        var run = ProcessRunner.RunAsync(new ProcessRequest("/usr/bin/ruby", new[] { "bin/rails" }.Concat(arguments).ToList())
        { WorkingDirectory = Folder, Timeout = TimeSpan.FromMinutes(2), Environment = Environment }, default).GetAwaiter().GetResult();
        Assert.True(run.ExitCode == 0, run.CombinedOutput);
        return run.StandardOutput;
    }

    public string[] Applied() => Rails("db:migrate:status").Split('\n').Select(l => l.Trim())
        .Where(l => l.StartsWith("up ", StringComparison.Ordinal)).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]).ToArray();

    public RollbackRequest Request(string? target) => new() { Deployment = new DatabaseTarget { Tool = "Rails", Path = Folder, ToolEnvironment = Environment }, Target = target };

    public void Dispose() => Git.Dispose();
}

public class RailsMigrationTests
{
    [RequiresFact(Component.Rails)]
    public async Task A_target_is_one_literal_argument_and_unknown_versions_list_the_known_ones()
    {
        using var project = new RailsProject();
        project.Rails("db:migrate", "VERSION=" + RailsProject.Second);

        var unknown = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request("1; rm -rf /"), project.Git.Context()));
        var ahead = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request(RailsProject.Third), project.Git.Context()));
        var noProject = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(project.Request(RailsProject.First).WithTarget<DatabaseTarget>(t => t with { Path = project.Git.Temp.Path }), project.Git.Context()));

        Assert.Equal(ErrorIds.DatabaseMigrationUnknown, unknown.ErrorId);
        Assert.Contains("'1; rm -rf /'", unknown.Message);
        Assert.Contains($"{RailsProject.First}, {RailsProject.Second}, {RailsProject.Third}; or 0", unknown.Message);
        Assert.Equal(ErrorIds.DatabaseMigrationUnknown, ahead.ErrorId);
        Assert.Contains("would upgrade", ahead.Message);
        Assert.Equal(ErrorIds.DatabaseProjectNotFound, noProject.ErrorId);
        Assert.Equal(new[] { RailsProject.First, RailsProject.Second }, project.Applied());
        Assert.Empty(project.Git.State().Journal.GetAttempts());
    }

    [RequiresFact(Component.Rails)]
    public async Task Irreversible_migrations_are_read_from_the_source_and_the_sqlite_file_from_rails()
    {
        using var project = new RailsProject();
        project.Rails("db:migrate");
        // A change method with raw SQL outside a reversible block cannot be reverted; inside one it can.
        var second = Path.Combine(project.Folder, "db", "migrate", "20240102000000_add_note_to_orders.rb");
        File.WriteAllText(second, "class AddNoteToOrders < ActiveRecord::Migration[6.1]\n  def change\n    add_column :orders, :note, :string\n    execute \"UPDATE orders SET note = ''\"\n  end\nend\n");
        var tool = new RailsTool(project.Request(null), project.Folder);
        var withExecute = await tool.PlanDowngradeAsync("0", default);
        File.WriteAllText(second, "class AddNoteToOrders < ActiveRecord::Migration[6.1]\n  def change\n    add_column :orders, :note, :string\n    reversible do |dir|\n      dir.up do\n        execute \"UPDATE orders SET note = ''\"\n      end\n    end\n  end\nend\n");
        var inReversible = await tool.PlanDowngradeAsync("0", default);
        var file = await tool.SqliteFileAsync(default);

        Assert.Equal(new[] { RailsProject.Third, RailsProject.Second, RailsProject.First }, withExecute.Unapply);
        Assert.Equal(new[] { RailsProject.Third, RailsProject.Second }, withExecute.Irreversible);
        Assert.Equal(new[] { RailsProject.Third }, inReversible.Irreversible);
        Assert.Equal("0", inReversible.Target);
        Assert.Equal(project.Database, file);
    }
}
