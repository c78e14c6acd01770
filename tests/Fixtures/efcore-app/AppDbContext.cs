using System.Data.Common;
using Microsoft.EntityFrameworkCore;

namespace EfCoreApp;

public sealed class Order
{
    public int Id { get; set; }
    public string Customer { get; set; } = "";
    public decimal Total { get; set; }
    public string? Note { get; set; }
}

/// <summary>
/// The fixture's database: the connection string in ConnectionStrings__App when set, else app.db (SQLite) in the working
/// directory. A connection string with a Host key (Npgsql's "Host=...;Port=...;Database=...;Username=...;Password=...")
/// selects PostgreSQL, any other SQLite.
/// </summary>
/// <remarks>
/// One set of migrations serves both providers (the approach EF Core's documentation gives for one migrations assembly and
/// several providers): the migrations and their models name no column types, so each provider maps the CLR types itself
/// (SQLite: INTEGER, TEXT; PostgreSQL: integer, text, numeric), and carry each provider's annotations for the generated
/// key (Sqlite:Autoincrement, Npgsql:ValueGenerationStrategy), which the other provider ignores. Raw SQL in a migration
/// quotes its identifiers, as PostgreSQL needs for the mixed-case column names. 'dotnet ef migrations
/// has-pending-model-changes' finds no changes on either provider. A migration added later with 'dotnet ef migrations add'
/// would be written for one provider and need the same editing.
/// </remarks>
public sealed class AppDbContext : DbContext
{
    public DbSet<Order> Orders => Set<Order>();

    public static string ConnectionString =>
        Environment.GetEnvironmentVariable("ConnectionStrings__App") is { Length: > 0 } value ? value : "Data Source=app.db";

    public static bool Postgres => new DbConnectionStringBuilder { ConnectionString = ConnectionString }.ContainsKey("Host");

    protected override void OnConfiguring(DbContextOptionsBuilder options)
    {
        if (Postgres)
        {
            options.UseNpgsql(ConnectionString);
        }
        else
        {
            options.UseSqlite(ConnectionString);
        }
    }

    protected override void OnModelCreating(ModelBuilder model) => model.Entity<Order>().ToTable("orders");
}
