using EfCoreApp;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

// "EfCoreApp migrate <migration>" moves the database to that migration (as an app that migrates itself at start-up does;
// the tests use it to set a state quickly); without arguments it counts the orders.
using var db = new AppDbContext();
if (args is ["migrate", var target])
{
    db.GetService<IMigrator>().Migrate(target);
    Console.WriteLine($"Migrated to {target}.");
}
else
{
    Console.WriteLine($"{db.Orders.Count()} orders");
}
