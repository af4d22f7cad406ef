module headbench

go 1.19
