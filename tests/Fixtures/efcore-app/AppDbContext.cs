using Microsoft.EntityFrameworkCore;

namespace EfCoreApp;

public sealed class Order
{
    public int Id { get; set; }
    public string Customer { get; set; } = "";
    public decimal Total { get; set; }
    public string? Note { get; set; }
}

/// <summary>The fixture's database: SQLite, at ConnectionStrings__App when set, else app.db in the working directory.</summary>
public sealed class AppDbContext : DbContext
{
    public DbSet<Order> Orders => Set<Order>();

    public static string ConnectionString =>
        Environment.GetEnvironmentVariable("ConnectionStrings__App") is { Length: > 0 } value ? value : "Data Source=app.db";

    protected override void OnConfiguring(DbContextOptionsBuilder options) => options.UseSqlite(ConnectionString);

    protected override void OnModelCreating(ModelBuilder model) => model.Entity<Order>().ToTable("orders");
}
