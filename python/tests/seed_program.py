# The seed's Python snippets (derivatives-of-mxn-outputs.md), in its order and unchanged, except
# that the two results the notebook showed as bare expressions are printed. test_seed.py runs this
# file under PyTorch and again with "torch" replaced by "dydx", and compares what they print.
import torch


def gra_fun(X):
    W=torch.tensor([[2.0,4.0]])
    y=torch.matmul(X**3,W)
    #y=tf.sin(tf.matmul(X*X,w))
    return y

x = torch.tensor([[4.0],[1.0]])
# t = torch.tensor([[8.0],[2.0]])
# X = torch.cat([x,t],1)
X = x
X.requires_grad=True

#y=torch.matmul(X*X,W)
y=gra_fun(X)
print(X)
print(y)

print(torch.cat([torch.autograd.grad(y[:,ii], X,torch.tensor([1.0,1.0]),
                              create_graph=True,allow_unused=True)[0]
           for ii in range(y.size(1))
          ],1))

gradients = torch.ones_like(y)
y.backward(gradients)
print(X.grad)


def gra_fun2(X):
    W=torch.tensor([[2.0,4.0]])
    y=X**3*W # 注意这里用的点积而不是matmul
    #y=tf.sin(tf.matmul(X*X,w))
    return y
# 注意 X 的扩张
x = torch.tensor([[4.0,4.0],[1.0,1.0]])
# t = torch.tensor([[8.0],[2.0]])
# X = torch.cat([x,t],1)
X = x
X.requires_grad=True

#y=torch.matmul(X*X,W)
y=gra_fun2(X)
print(X)
print(y)
gradients = torch.ones_like(y)

print(torch.autograd.grad(y,X,gradients, create_graph=True,allow_unused=True)[0])

y.backward(gradients)
print(X.grad)
