from django.db import models
class Order(models.Model):
    total = models.IntegerField(default=0)
    note = models.CharField(max_length=20, default='')
